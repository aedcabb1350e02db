package dev.shadowcopy.service.ops;

import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.WriterRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.writer.ExternalWriter;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterMetadata;
import dev.shadowcopy.writer.WriterRegistry;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The writers: those there now (built-in, hooks, external writers registered over the API) with the last state each
 * had in a session, and those seen before ({@code list writers}); registering and dropping external writers.
 */
public final class Writers {
    private final WriterRegistry registry;
    private final Catalog catalog;
    private final EventLog events;

    public Writers(WriterRegistry registry, Catalog catalog, EventLog events) {
        this.registry = registry;
        this.catalog = catalog;
        this.events = events;
    }

    /** Adds a Java writer of this process (the database writers; tests). */
    public void addBuiltin(Writer w) {
        registry.addBuiltin(w);
    }

    /** {@code list writers}: every writer there now with its last known state, then writers seen before. */
    public List<Map<String, Object>> list() throws ServiceException {
        Map<String, Map<String, Object>> out = new LinkedHashMap<>();
        Map<String, WriterRecord> known = new LinkedHashMap<>();
        catalog.writers().forEach(w -> known.put(w.name(), w));
        for (Writer w : registry.current()) {
            Map<String, Object> m = row(w.name(), w.kind(), true, known.get(w.name()));
            if (w instanceof ExternalWriter x) {
                m.put("id", x.id().toString());
            }
            out.put(w.name(), m);
        }
        for (WriterRecord r : known.values()) {
            out.putIfAbsent(r.name(), row(r.name(), r.kind(), false, r));
        }
        return List.copyOf(out.values());
    }

    /** One {@code list writers} row; a writer never seen in a session is stable with no error. */
    private static Map<String, Object> row(String name, String kind, boolean present, WriterRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("kind", kind);
        m.put("present", present);
        m.put("state", r == null ? "STABLE" : r.lastState().name());
        m.put("last_error", r == null ? "NONE" : r.lastFailure().name());
        m.put("message", r == null ? null : r.lastMessage());
        m.put("last_seen", r == null ? null : r.lastSeen().toString());
        return m;
    }

    /** Registers an external writer whose lease is {@code lease} (1 s to an hour). */
    public ExternalWriter register(String name, WriterMetadata metadata, Duration lease) throws ServiceException {
        ExternalWriter w = registry.register(name, metadata, lease);
        events.append("writer-registered", "info", "external writer " + name + " registered (" + w.id()
                + ")", Map.of("writer", name));
        return w;
    }

    /** Drops an external writer that asked to go; its pending event fails. */
    public void unregister(ExternalWriter w) {
        registry.unregister(w.id(), "it unregistered");
        events.append("writer-unregistered", "info", "external writer " + w.name() + " unregistered",
                Map.of("writer", w.name()));
    }

    /** Drops an external writer whose event stream closed. */
    public void streamClosed(ExternalWriter w) {
        registry.unregister(w.id(), "its event stream closed");
        events.append("writer-gone", "warning", "external writer " + w.name()
                + " went away (its event stream closed)", Map.of("writer", w.name()));
    }

    /** Drops an external writer whose event stream broke (no event, as before: the stream says why). */
    public void streamBroke(ExternalWriter w, String why) {
        registry.unregister(w.id(), "its event stream broke: " + why);
    }

    /** The registered external writer {@code id}. */
    public ExternalWriter external(String id) throws ServiceException {
        UUID u;
        try {
            u = UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + id + "' is not a writer id");
        }
        return registry.external(u).orElseThrow(() -> new ServiceException(VssError.OBJECT_NOT_FOUND,
                "no registered writer " + id + " (it may have been dropped when its stream closed or lease ran out; "
                        + "register again)"));
    }
}
