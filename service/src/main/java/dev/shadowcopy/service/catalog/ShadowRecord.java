package dev.shadowcopy.service.catalog;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterState;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.UUID;

/**
 * Everything the service records of one shadow copy (VSS_SNAPSHOT_PROP plus what DESIGN.md adds). The engine holds
 * the data; this is the description. Validated at construction, so a record read from a damaged catalog is refused
 * there (the catalog is then moved aside) instead of failing later. On disk (catalog.json) and on the wire the
 * fields are the same strings as ever: ids and times as text, states and consistency in lower case.
 *
 * @param setId        the set, or null for a copy the catalog adopted from the engine ({@link State#UNTRACKED})
 * @param setCount     volumes in the set at creation (not decremented on delete, as in VSS)
 * @param protectUntil null, or the instant before which no delete path may remove it
 * @param exposedPath  where the copy is exposed (an absolute path), or null
 * @param sessionId    the session that releases it (auto-release copies), or null
 */
public record ShadowRecord(ShadowCopyId id, UUID setId, String volume, String provider, Instant created,
                           String context, int attributes, Consistency consistency, List<WriterOutcome> writers,
                           Instant protectUntil, int setCount, String originatingMachine, State state,
                           String exposedPath, UUID sessionId) {
    public ShadowRecord {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(created, "created");
        Objects.requireNonNull(consistency, "consistency");
        Objects.requireNonNull(state, "state");
        if (volume == null || volume.isEmpty()) {
            throw new IllegalArgumentException("shadow copy " + id + " names no volume");
        }
        if (setCount < 1) {
            throw new IllegalArgumentException("shadow copy " + id + ": set count " + setCount + " (expected: 1 or more)");
        }
        writers = writers == null ? List.of() : List.copyOf(writers);
    }

    /** What the record says of the copy's data. */
    public enum State {
        /** Made by a set the service recorded; the engine holds its data. */
        CREATED,
        /** Persistent, but the engine no longer has its data (found at start; reported). */
        MISSING,
        /** In the engine, unknown to the catalog (adopted at start with what the engine knows). */
        UNTRACKED,
        /** The engine is releasing it for room: gone as far as anyone is concerned (finished at start). */
        RELEASING;

        @JsonValue
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        @JsonCreator
        public static State parse(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT));
        }
    }

    /** VSS's consistency of a copy: with writers that all succeeded, or crash-consistent. */
    public enum Consistency {
        APPLICATION, CRASH, UNKNOWN;

        @JsonValue
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        @JsonCreator
        public static Consistency parse(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT));
        }
    }

    /** True while the copy's protection date is in the future (not a stored field: it changes with time). */
    @JsonIgnore
    public boolean isProtected() {
        return protectUntil != null && Instant.now().isBefore(protectUntil);
    }

    public ShadowRecord withProtectUntil(Instant until) {
        return new ShadowRecord(id, setId, volume, provider, created, context, attributes, consistency, writers, until,
                setCount, originatingMachine, state, exposedPath, sessionId);
    }

    public ShadowRecord withState(State newState) {
        return new ShadowRecord(id, setId, volume, provider, created, context, attributes, consistency, writers,
                protectUntil, setCount, originatingMachine, newState, exposedPath, sessionId);
    }

    public ShadowRecord withExposedPath(String path, int newAttributes) {
        return new ShadowRecord(id, setId, volume, provider, created, context, newAttributes, consistency, writers,
                protectUntil, setCount, originatingMachine, state, path, sessionId);
    }

    /** A writer's final state for this copy. */
    public record WriterOutcome(String name, String kind, WriterState state, WriterFailure failure, String message) {
        public WriterOutcome {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(state, "state");
            Objects.requireNonNull(failure, "failure");
        }
    }
}
