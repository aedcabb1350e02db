package dev.shadowcopy.service.catalog;

import java.util.Map;

/**
 * A shadow copy set while and after it is made. The record with state {@code creating} and the copy ids it
 * will use is made durable before the provider creates anything, so a crash mid-creation leaves the
 * reconciler enough to delete what was half made.
 *
 * @param state   {@code creating}, {@code created}, {@code aborted}
 * @param copies  volume name → shadow copy id
 */
public record SetRecord(String id, String state, String started, String context, Map<String, String> copies,
                        String sessionId, String error) {
    public SetRecord {
        copies = Map.copyOf(copies);
    }

    public SetRecord withState(String newState, String newError) {
        return new SetRecord(id, newState, started, context, copies, sessionId, newError);
    }
}
