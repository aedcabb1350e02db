package dev.shadowcopy.service.catalog;

import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterState;
import java.time.Instant;
import java.util.Objects;

/** A writer the service has seen, with its last state, kept across restarts for {@code list writers}. */
public record WriterRecord(String name, String kind, Instant lastSeen, WriterState lastState, WriterFailure lastFailure,
                           String lastMessage) {
    public WriterRecord {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(lastSeen, "lastSeen");
        Objects.requireNonNull(lastState, "lastState");
        Objects.requireNonNull(lastFailure, "lastFailure");
    }
}
