package dev.shadowcopy.image.backup;

import java.io.IOException;

/** Receives progress of a long job. Throwing from {@link #update} cancels the job. */
public interface Progress {
    Progress NONE = (phase, done, total) -> { };

    /**
     * @param phase what is being done, e.g. {@code "volume data1"}
     * @param done  bytes done in this phase
     * @param total bytes this phase will handle
     */
    void update(String phase, long done, long total) throws IOException;
}
