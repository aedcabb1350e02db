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
 */
public record EventContext(UUID setId, List<String> volumes, String context, String backupType,
                           Map<String, String> shadowCopies, Instant deadline) {
    public EventContext {
        volumes = List.copyOf(volumes);
        shadowCopies = Map.copyOf(shadowCopies);
    }
}
