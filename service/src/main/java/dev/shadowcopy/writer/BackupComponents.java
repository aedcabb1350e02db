package dev.shadowcopy.writer;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * VSS's Backup Components Document, the part writers fill in: per writer, named values a restore needs
 * (a PostgreSQL backup label, a binlog position ...). One per session; writers add to it during any event
 * and the requester saves it with the backup. Thread-safe.
 */
public final class BackupComponents {
    private final Map<String, Map<String, String>> byWriter = new TreeMap<>();

    /** Records {@code key = value} for {@code writer} (a later value for the same key replaces it). */
    public synchronized void put(String writer, String key, String value) {
        byWriter.computeIfAbsent(writer, w -> new LinkedHashMap<>()).put(key, value);
    }

    public synchronized Map<String, String> of(String writer) {
        return Map.copyOf(byWriter.getOrDefault(writer, Map.of()));
    }

    /** A copy of the whole document: writer → key → value. */
    public synchronized Map<String, Map<String, String>> snapshot() {
        Map<String, Map<String, String>> out = new TreeMap<>();
        byWriter.forEach((w, m) -> out.put(w, new LinkedHashMap<>(m)));
        return out;
    }
}
