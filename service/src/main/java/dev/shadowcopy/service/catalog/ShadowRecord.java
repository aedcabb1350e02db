package dev.shadowcopy.service.catalog;

import java.util.List;

/**
 * Everything the service records of one shadow copy (VSS_SNAPSHOT_PROP plus what DESIGN.md adds). Times are
 * ISO-8601 strings. The engine holds the data; this is the description.
 *
 * @param state        {@code created}; {@code missing} if the engine lost it (reported at start);
 *                     {@code untracked} if the engine has it but the catalog did not (adopted, properties unknown)
 * @param setCount     volumes in the set at creation (not decremented on delete, as in VSS)
 * @param consistency  {@code application} when writers took part and all succeeded, else {@code crash}
 * @param protectUntil null, or the instant before which no delete path may remove it
 * @param sessionId    the session that releases it (auto-release copies), or null
 */
public record ShadowRecord(String id, String setId, String volume, String provider, String created, String context,
                           int attributes, String consistency, List<WriterOutcome> writers, String protectUntil,
                           int setCount, String originatingMachine, String state, String exposedPath,
                           String sessionId) {
    public ShadowRecord {
        writers = writers == null ? List.of() : List.copyOf(writers);
    }

    public ShadowRecord withProtectUntil(String until) {
        return new ShadowRecord(id, setId, volume, provider, created, context, attributes, consistency, writers, until,
                setCount, originatingMachine, state, exposedPath, sessionId);
    }

    public ShadowRecord withState(String newState) {
        return new ShadowRecord(id, setId, volume, provider, created, context, attributes, consistency, writers,
                protectUntil, setCount, originatingMachine, newState, exposedPath, sessionId);
    }

    public ShadowRecord withExposedPath(String path, int newAttributes) {
        return new ShadowRecord(id, setId, volume, provider, created, context, newAttributes, consistency, writers,
                protectUntil, setCount, originatingMachine, state, path, sessionId);
    }

    public ShadowRecord withSession(String session, int newAttributes) {
        return new ShadowRecord(id, setId, volume, provider, created, context, newAttributes, consistency, writers,
                protectUntil, setCount, originatingMachine, state, exposedPath, session);
    }

    /** A writer's final state for this copy. */
    public record WriterOutcome(String name, String kind, String state, String failure, String message) {}
}
