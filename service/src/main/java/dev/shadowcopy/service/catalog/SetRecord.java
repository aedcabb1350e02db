package dev.shadowcopy.service.catalog;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/**
 * A shadow copy set while and after it is made. The record with state {@code creating} and the copy ids it
 * will use is made durable before the provider creates anything, so a crash mid-creation leaves the
 * reconciler enough to delete what was half made. Validated at construction; on disk as ever (ids and times as
 * text, the state in lower case).
 *
 * @param copies    volume name → shadow copy id
 * @param sessionId the session that made it, or null
 */
public record SetRecord(UUID id, State state, Instant started, String context, Map<String, ShadowCopyId> copies,
                        UUID sessionId, String error) {
    public SetRecord {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(started, "started");
        copies = Map.copyOf(copies);
    }

    /** Where the set is. */
    public enum State {
        CREATING, CREATED, ABORTED;

        @JsonValue
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        @JsonCreator
        public static State parse(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT));
        }
    }

    public SetRecord withState(State newState, String newError) {
        return new SetRecord(id, newState, started, context, copies, sessionId, newError);
    }
}
