package dev.shadowcopy.writer;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * What a writer is told with an event.
 *
 * @param setId        the shadow copy set being made (null for identify)
 * @param volumes      the volumes in the set
 * @param context      the VSS context name, e.g. {@code backup}, {@code client-accessible-writers}
 * @param backupType   {@code full}, {@code incremental}, {@code copy}, …
 * @param shadowCopies volume name → shadow copy id, known from post-snapshot on
 * @param deadline     when the service stops waiting for the answer
 * @param components   the session's backup components document, where a writer records what a restore needs
 */
public record EventContext(UUID setId, List<String> volumes, String context, String backupType,
                           Map<String, String> shadowCopies, Instant deadline, BackupComponents components) {
    public EventContext {
        volumes = List.copyOf(volumes);
        shadowCopies = Map.copyOf(shadowCopies);
        components = components == null ? new BackupComponents() : components;
    }
}
