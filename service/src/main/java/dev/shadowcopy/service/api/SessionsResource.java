package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.Sessions;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.peer.Caller;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.writer.WriterCall;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code /v1/sessions} (VSS's backup components: open, make the set, BackupComplete, keepalive, release) and
 * {@code /v1/sets} (one request for a whole set, as {@code vssadmin create shadow}). A session without a lease is
 * bound to the connection that opened it and released when it closes. Operators act on sessions they opened.
 */
final class SessionsResource {
    private static final Set<String> BACKUP_TYPES = Set.of("full", "incremental", "differential", "log", "copy",
            "other");

    private final Sessions sessions;
    private final Volumes volumes;
    private final Catalog catalog;
    private final ApiAccess access;
    private final Render render;

    SessionsResource(Sessions sessions, Volumes volumes, Catalog catalog, ApiAccess access, Render render) {
        this.sessions = sessions;
        this.volumes = volumes;
        this.catalog = catalog;
        this.access = access;
        this.render = render;
    }

    void register(Routes routes) {
        routes.post("/v1/sessions", this::open)
                .get("/v1/sessions", this::list)
                // any path below a session: it must exist and be the caller's before anything else is said
                .guardBelow("/v1/sessions/{id}", c -> {
                    Session s = sessions.get(c.param("id"));
                    access.owner(c.caller(), s.id().toString(), "session");
                    c.resolved(Session.class, s);
                })
                .get("/v1/sessions/{id}", c -> c.ok(Render.session(c.resolved(Session.class))))
                .delete("/v1/sessions/{id}", this::release)
                .post("/v1/sessions/{id}/snapshot-set", this::snapshotSet)
                .post("/v1/sessions/{id}/backup-complete", this::backupComplete)
                .get("/v1/sessions/{id}/writers", c -> c.ok(Render.wrap("writers",
                        Render.writerStatus(c.resolved(Session.class)))))
                .post("/v1/sessions/{id}/keepalive", this::keepAlive)
                .post("/v1/sets", this::oneShot)
                .get("/v1/sets", c -> c.ok(Render.wrap("sets", Json.MAPPER.valueToTree(catalog.sets()))));
    }

    private void open(Call c) throws Exception {
        Session s = open(c, c.body(), false);
        access.opened(s.id().toString(), c.caller());
        c.ok(201, Render.session(s));
    }

    private void list(Call c) throws Exception {
        ArrayNode a = Json.MAPPER.createArrayNode();
        sessions.list().forEach(s -> a.add(Render.session(s)));
        c.ok(Render.wrap("sessions", a));
    }

    private void release(Call c) throws Exception {
        Session s = c.resolved(Session.class);
        sessions.release(s, "released by its requester");
        c.ok(Json.object().put("released", s.id().toString()));
    }

    private void snapshotSet(Call c) throws Exception {
        Session s = c.resolved(Session.class);
        JsonNode b = c.body();
        List<String> names = volumeNames(b, c.caller());
        volumes.checkProvider(b.hasNonNull("provider") ? b.get("provider").asText() : null, names);
        SnapshotSetCreator.CreatedSet made = sessions.createSet(s, names, Call.protectUntil(b));
        c.ok(201, render.createdSet(made, s));
    }

    private void backupComplete(Call c) throws Exception {
        Session s = c.resolved(Session.class);
        List<WriterCall.Outcome> failures = sessions.backupComplete(s);
        ObjectNode o = Render.session(s);
        o.put("writer_failures", failures.size());
        c.ok(o);
    }

    private void keepAlive(Call c) throws Exception {
        Session s = c.resolved(Session.class);
        if (s.leaseUntil() != null) {
            JsonNode b = c.body();
            sessions.keepAlive(s, b.hasNonNull("lease_seconds") ? Call.leaseSeconds(b) : null);
        } else {
            sessions.keepAlive(s, null); // refused: bound to its connection
        }
        c.ok(Render.session(s));
    }

    /** Opens a session as the body asks; without a lease it ends with the caller's connection. */
    private Session open(Call c, JsonNode b, boolean oneShot) throws ServiceException {
        Context ctx = Context.parse(b.path("context").asText("backup"));
        String type = b.path("backup_type").asText("full");
        if (!BACKUP_TYPES.contains(type)) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "backup_type must be full, incremental, differential, "
                    + "log, copy or other; was '" + type + "'");
        }
        Duration lease = b.hasNonNull("lease_seconds") ? Duration.ofSeconds(Call.leaseSeconds(b)) : null;
        String owner = lease == null ? "API connection " + c.exchange().connection().id() : "lease";
        Session s = sessions.open(ctx, type, Call.strings(b, "exclude_writers"), Call.strings(b, "verify_writers"),
                owner, lease);
        if (lease == null && !(oneShot && ctx.persistent())) {
            c.exchange().connection().onClose(() -> sessions.release(s, "its requester's connection closed"));
        }
        return s;
    }

    /**
     * {@code POST /v1/sets}: one request for a whole set, like {@code vssadmin create shadow}. Persistent
     * contexts run the session to its end (BackupComplete, BackupShutdown) and the copies stay; auto-release
     * contexts keep the session open until this connection closes.
     */
    private void oneShot(Call c) throws Exception {
        JsonNode b = c.body();
        volumeNames(b, c.caller()); // refused before a session exists
        Session s = open(c, b, true);
        boolean done = false;
        try {
            List<String> names = volumeNames(b, c.caller());
            volumes.checkProvider(b.hasNonNull("provider") ? b.get("provider").asText() : null, names);
            SnapshotSetCreator.CreatedSet made = sessions.createSet(s, names, Call.protectUntil(b));
            if (s.context().persistent()) {
                if (s.context().writers()) {
                    sessions.backupComplete(s);
                }
                sessions.release(s, "one-shot set created");
                done = true;
            }
            c.ok(201, render.createdSet(made, s));
        } finally {
            if (s.context().persistent() && !done) {
                sessions.release(s, "one-shot set failed");
            }
        }
    }

    /** The body's volume names, each one {@code c} may use. */
    private List<String> volumeNames(JsonNode b, Caller c) throws ServiceException {
        JsonNode v = b.get("volumes");
        if (v == null || !v.isArray() || v.isEmpty()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'volumes' must be a non-empty list of volume names");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode x : v) {
            if (!x.isTextual()) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "'volumes' must be a list of volume names, "
                        + "found " + x.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
            }
            access.volume(c, x.asText());
            out.add(x.asText());
        }
        return out;
    }
}
