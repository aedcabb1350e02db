package dev.shadowcopy.service.ops;

import java.nio.file.Path;
import java.time.Instant;

/**
 * What {@code GET /v1/status} tells about the service itself: where it lives, since when, and how much it holds.
 *
 * @param stateDirectory the state directory
 * @param nbdSocket      the NBD Unix socket
 * @param started        when this run of the service started
 */
public record Status(Path stateDirectory, Path nbdSocket, Instant started, Volumes volumes, ShadowCopies shadows,
                     Sessions sessions) {
    public int volumeCount() {
        return volumes.list().size();
    }

    public int shadowCount() {
        return shadows.count();
    }

    public int sessionCount() {
        return sessions.list().size();
    }

    /** True while a shadow copy set is being made. */
    public boolean creating() {
        return sessions.creating();
    }
}
