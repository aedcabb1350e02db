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
 * @param recoveryMounts during PostSnapshot with auto-recovery: the mount point of each file system of the set
 *                     (as the writer knows it) → where its copy is mounted writable now; empty otherwise
 */
public record EventContext(UUID setId, List<String> volumes, String context, String backupType,
                           Map<String, String> shadowCopies, Instant deadline, BackupComponents components,
                           Map<String, String> recoveryMounts) {
    public EventContext {
        volumes = List.copyOf(volumes);
        shadowCopies = Map.copyOf(shadowCopies);
        recoveryMounts = recoveryMounts == null ? Map.of() : Map.copyOf(recoveryMounts);
        components = components == null ? new BackupComponents() : components;
    }
}
