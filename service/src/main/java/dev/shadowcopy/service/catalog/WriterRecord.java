package dev.shadowcopy.service.catalog;

/** A writer the service has seen, with its last state, kept across restarts for {@code list writers}. */
public record WriterRecord(String name, String kind, String lastSeen, String lastState, String lastFailure,
                           String lastMessage) {}
