package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.service.Json;
import dev.shadowcopy.service.Service;
import dev.shadowcopy.service.ServiceException;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.access.Caller;
import dev.shadowcopy.service.VssError;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.http.Exchange;
import dev.shadowcopy.service.http.HttpException;
import dev.shadowcopy.service.http.HttpRequest;
import dev.shadowcopy.service.http.HttpServer;
import dev.shadowcopy.service.provider.Providers;
import dev.shadowcopy.service.sequence.Attributes;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.ForeignVolumes;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.service.sequence.WriterStatus;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowStorageLimit;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeEngine;
import dev.shadowcopy.volume.VolumeException;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.writer.ExternalWriter;
import dev.shadowcopy.writer.WriterCall;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterMetadata;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/**
 * The HTTP/JSON API on {@code shadowcopy.sock}. Paths are under {@code /v1}; bodies and answers are JSON
 * (snake_case); errors are {@code {"error":{"code","hresult","message","retryable","writer"}}} with the
 * status of the {@link VssError}. docs/service.md lists every route.
 */
public final class Api implements HttpServer.Handler {
    private final Service service;
    private final ApiAccess access;
    private final BackupApi backups;

    /** Issue 18's routes (schedules, versions, shares), or null. */
    private final PreviousVersionsApi previous;

    /** @param access who may do what (docs/service.md, "Security model") */
    public Api(Service service, ApiAccess access) {
        this(service, access, null);
    }

    public Api(Service service, ApiAccess access, PreviousVersionsApi previous) {
        this.service = service;
        this.access = access;
        this.backups = new BackupApi(service, access);
        this.previous = previous;
    }

    @Override
    public void handle(Exchange ex) throws Exception {
        HttpRequest r = ex.request();
        List<String> p = r.segments();
        if (p.isEmpty() || !p.getFirst().equals("v1")) {
            throw new HttpException(404, "no such API path " + r.path() + " (the API is under /v1)");
        }
        String m = r.method();
        String res = p.size() > 1 ? p.get(1) : "";
        int n = p.size();
        Caller c = ex.connection().caller();
        switch (res) {
            case "status" -> {
                getOnly(r, n, 2);
                ok(ex, status(ex));
            }
            case "volumes" -> {
                if (n == 2 && m.equals("GET")) {
                    ArrayNode a = Json.MAPPER.createArrayNode();
                    for (ManagedVolume v : service.volumes().list()) {
                        if (access.sees(c, v.name())) {
                            a.add(volume(v));
                        }
                    }
                    for (ForeignVolumes.Foreign f : service.btrfs().list()) {
                        if (access.sees(c, f.name())) {
                            a.add(foreignVolume(f));
                        }
                    }
                    ok(ex, wrap("volumes", a));
                } else if (n == 2 && m.equals("POST")) {
                    access.admin(c, "creating volumes");
                    JsonNode b = body(r);
                    if (b.hasNonNull("btrfs_subvolume")) {
                        Path sub = access.adminPath(c, text(b, "btrfs_subvolume", true), "btrfs_subvolume");
                        service.btrfs().add(text(b, "name", true), sub);
                        ok(ex, 201, foreignVolume(service.btrfs().find(text(b, "name", true))));
                    } else {
                        ok(ex, 201, volume(service.createVolume(volumeConfig(b, c))));
                    }
                } else if (n == 3 && m.equals("GET")) {
                    access.volume(c, p.get(2));
                    ForeignVolumes.Foreign f = service.btrfs().find(p.get(2));
                    ok(ex, f != null ? foreignVolume(f) : volume(service.volumes().get(p.get(2))));
                } else if (n == 3 && m.equals("DELETE")) {
                    access.admin(c, "deleting volumes");
                    service.deleteVolume(p.get(2), "1".equals(r.query().get("force")) || "true".equals(r.query().get("force")));
                    ok(ex, Json.object().put("deleted", p.get(2)));
                } else if (n == 4 && m.equals("POST") && p.get(3).equals("attach")) {
                    access.admin(c, "attaching volumes as block devices");
                    Attachment a = service.attach(p.get(2), body(r).path("read_only").asBoolean(false));
                    ok(ex, Json.object().put("volume", p.get(2)).put("device", a.loopDevice()).put("path", a.path())
                            .put("kept_by", service.keeper()));
                } else if (n == 4 && m.equals("POST") && p.get(3).equals("detach")) {
                    access.admin(c, "detaching volumes");
                    service.detach(p.get(2), body(r).path("force").asBoolean(false));
                    ok(ex, Json.object().put("detached", p.get(2)));
                } else {
                    notFound(r);
                }
            }
            case "shadowstorage" -> {
                if (n == 2 && m.equals("GET")) {
                    ArrayNode a = Json.MAPPER.createArrayNode();
                    for (ManagedVolume v : service.volumes().list()) {
                        if (access.sees(c, v.name())) {
                            a.add(storage(v));
                        }
                    }
                    ok(ex, wrap("shadowstorage", a));
                } else if (n == 3 && (m.equals("PUT") || m.equals("POST"))) {
                    access.admin(c, "resizing shadow storage");
                    String max = text(body(r), "maxsize", true);
                    ShadowStorageLimit limit;
                    try {
                        limit = ShadowStorageLimit.parse(max);
                    } catch (IllegalArgumentException e) {
                        throw new ServiceException(VssError.INVALID_ARGUMENT, e.getMessage());
                    }
                    service.resizeShadowStorage(p.get(2), limit);
                    ok(ex, storage(service.volumes().get(p.get(2))));
                } else {
                    notFound(r);
                }
            }
            case "shadows" -> shadows(ex, r, p, m, c);
            case "sessions" -> sessions(ex, r, p, m, c);
            case "sets" -> {
                if (n == 2 && m.equals("POST")) {
                    oneShot(ex, body(r), c);
                } else if (n == 2 && m.equals("GET")) {
                    ok(ex, wrap("sets", Json.MAPPER.valueToTree(service.catalog().sets())));
                } else {
                    notFound(r);
                }
            }
            case "writers" -> writers(ex, r, p, m, c);
            case "providers" -> {
                getOnly(r, n, 2);
                ok(ex, wrap("providers", providers()));
            }
            case "backups" -> {
                if (n == 2 && m.equals("POST")) {
                    backups.backups(ex, r, body(r), c);
                } else {
                    notFound(r);
                }
            }
            case "restores" -> {
                if (n == 2 && m.equals("POST")) {
                    backups.restores(ex, r, body(r), c);
                } else {
                    notFound(r);
                }
            }
            case "events" -> {
                getOnly(r, n, 2);
                long after = r.query().containsKey("after") ? parseLong(r.query().get("after"), "after") : 0;
                long limit = r.query().containsKey("limit") ? parseLong(r.query().get("limit"), "limit") : 200;
                if (after < 0 || limit < 1 || limit > 2000) {
                    throw new ServiceException(VssError.INVALID_ARGUMENT, "events: 'after' must be 0 or more and "
                            + "'limit' 1..2000; were " + after + " and " + limit);
                }
                ok(ex, wrap("events", Json.MAPPER.valueToTree(service.events().since(after, (int) limit))));
            }
            default -> {
                if (previous == null || !previous.handle(ex, c)) {
                    notFound(r);
                }
            }
        }
    }

    // ------------------------------------------------------------------ shadows

    private void shadows(Exchange ex, HttpRequest r, List<String> p, String m, Caller c) throws Exception {
        int n = p.size();
        if (n == 2 && m.equals("GET")) {
            String vol = r.query().get("volume");
            String set = r.query().get("set");
            ArrayNode a = Json.MAPPER.createArrayNode();
            for (ShadowRecord s : service.shadows()) {
                if ((vol == null || vol.equals(s.volume())) && (set == null || set.equals(s.setId()))
                        && access.sees(c, s.volume())) {
                    a.add(shadow(s));
                }
            }
            ok(ex, wrap("shadows", a));
        } else if (n == 3 && m.equals("POST") && p.get(2).equals("delete")) {
            JsonNode b = body(r);
            Service.Selector sel = new Service.Selector(text(b, "shadow", false), text(b, "set", false),
                    text(b, "volume", false), b.path("oldest").asBoolean(false), b.path("all").asBoolean(false));
            mayDelete(c, sel);
            ok(ex, deleteResult(service.deleteShadows(sel)));
        } else if (n == 3 && m.equals("GET")) {
            ok(ex, shadow(visible(c, p.get(2))));
        } else if (n == 3 && m.equals("DELETE")) {
            Service.Selector sel = new Service.Selector(p.get(2), null, null, false, false);
            mayDelete(c, sel);
            ok(ex, deleteResult(service.deleteShadows(sel)));
        } else if (n == 4 && m.equals("POST")) {
            JsonNode b = body(r);
            visible(c, p.get(2));
            switch (p.get(3)) {
                case "protect" -> ok(ex, shadow(service.protect(p.get(2), instant(text(b, "until", true), "until"))));
                case "revert" -> {
                    access.admin(c, "reverting a volume");
                    service.revert(p.get(2), b.path("force").asBoolean(false));
                    ok(ex, Json.object().put("reverted_to", p.get(2)));
                }
                case "expose" -> ok(ex, shadow(service.expose(p.get(2), access.mountPoint(c, text(b, "mount", true)))));
                case "unexpose" -> {
                    service.unexpose(p.get(2), b.path("force").asBoolean(false));
                    ok(ex, Json.object().put("unexposed", p.get(2)));
                }
                default -> notFound(r);
            }
        } else {
            notFound(r);
        }
    }

    /** The copy {@code id} names, if {@code c} may see its volume. */
    private ShadowRecord visible(Caller c, String id) throws ServiceException {
        ShadowRecord s = service.shadow(id);
        access.volume(c, s.volume());
        return s;
    }

    /** Refuses an operator a delete that could reach copies of volumes not given to operators. */
    private void mayDelete(Caller c, Service.Selector sel) throws ServiceException {
        if (c.isAdmin()) {
            return;
        }
        if (sel.all()) {
            access.admin(c, "deleting every shadow copy");
        }
        if (sel.volume() != null) {
            access.volume(c, sel.volume());
        }
        if (sel.shadow() != null) {
            visible(c, sel.shadow());
        }
        if (sel.set() != null) {
            for (ShadowRecord s : service.setCopies(sel.set())) {
                access.volume(c, s.volume());
            }
        }
    }

    private static ObjectNode deleteResult(Service.DeleteResult d) {
        ObjectNode o = Json.object();
        d.deleted().forEach(o.putArray("deleted")::add);
        ArrayNode refused = o.putArray("refused");
        for (ShadowRecord s : d.refused()) {
            refused.addObject().put("id", s.id()).put("protect_until", s.protectUntil());
        }
        return o;
    }

    // ------------------------------------------------------------------ sessions and sets

    private void sessions(Exchange ex, HttpRequest r, List<String> p, String m, Caller c) throws Exception {
        int n = p.size();
        if (n == 2 && m.equals("POST")) {
            Session s = openSession(ex, body(r), false);
            access.opened(s.id().toString(), c);
            ok(ex, 201, session(s));
            return;
        }
        if (n == 2 && m.equals("GET")) {
            ArrayNode a = Json.MAPPER.createArrayNode();
            service.sessions().list().forEach(s -> a.add(session(s)));
            ok(ex, wrap("sessions", a));
            return;
        }
        if (n < 3) {
            notFound(r);
            return;
        }
        Session s = service.sessions().get(p.get(2));
        access.owner(c, s.id().toString(), "session");
        if (n == 3 && m.equals("GET")) {
            ok(ex, session(s));
        } else if (n == 3 && m.equals("DELETE")) {
            service.release(s, "released by its requester");
            ok(ex, Json.object().put("released", s.id().toString()));
        } else if (n == 4 && m.equals("POST") && p.get(3).equals("snapshot-set")) {
            JsonNode b = body(r);
            List<String> names = volumes(b, c);
            if (b.hasNonNull("provider")) {
                List<ManagedVolume> vs = new ArrayList<>();
                Providers.Provider chosen = Providers.named(b.get("provider").asText());
                for (String v : names) {
                    if (service.btrfs().find(v) != null) {
                        if (!chosen.name().equals(Providers.BTRFS)) {
                            throw new ServiceException(VssError.VOLUME_NOT_SUPPORTED_BY_PROVIDER, "provider "
                                    + chosen.name() + " does not serve volume " + v + " (a btrfs subvolume; it is "
                                    + "served by " + Providers.BTRFS + ")");
                        }
                    } else {
                        vs.add(service.volumes().get(v));
                    }
                }
                Providers.check(chosen.name(), vs);
            }
            SnapshotSetCreator.CreatedSet made = service.createSet(s, names, protectUntil(b));
            ok(ex, 201, createdSet(made, s));
        } else if (n == 4 && m.equals("POST") && p.get(3).equals("backup-complete")) {
            List<WriterCall.Outcome> failures = service.backupComplete(s);
            ObjectNode o = session(s);
            o.put("writer_failures", failures.size());
            ok(ex, o);
        } else if (n == 4 && m.equals("GET") && p.get(3).equals("writers")) {
            ok(ex, wrap("writers", writerStatus(s)));
        } else if (n == 4 && m.equals("POST") && p.get(3).equals("keepalive")) {
            if (s.leaseUntil() == null) {
                throw new ServiceException(VssError.BAD_STATE, "session " + s.id() + " is bound to its connection and "
                        + "has no lease to renew");
            }
            JsonNode b = body(r);
            long secs = b.hasNonNull("lease_seconds") ? leaseSeconds(b) : Duration.between(s.created(), s.leaseUntil())
                    .toSeconds();
            s.renew(Instant.now().plusSeconds(Math.max(1, secs)));
            ok(ex, session(s));
        } else {
            notFound(r);
        }
    }

    private Session openSession(Exchange ex, JsonNode b, boolean oneShot) throws ServiceException {
        Context ctx = Context.parse(b.path("context").asText("backup"));
        String type = b.path("backup_type").asText("full");
        if (!Set.of("full", "incremental", "differential", "log", "copy", "other").contains(type)) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "backup_type must be full, incremental, differential, "
                    + "log, copy or other; was '" + type + "'");
        }
        Duration lease = b.hasNonNull("lease_seconds") ? Duration.ofSeconds(leaseSeconds(b)) : null;
        String owner = lease == null ? "API connection " + ex.connection().id() : "lease";
        Session s = service.openSession(ctx, type, strings(b, "exclude_writers"), strings(b, "verify_writers"),
                owner, lease);
        if (lease == null && !(oneShot && ctx.persistent())) {
            ex.connection().onClose(() -> service.release(s, "its requester's connection closed"));
        }
        return s;
    }

    /**
     * {@code POST /v1/sets}: one request for a whole set, like {@code vssadmin create shadow}. Persistent
     * contexts run the session to its end (BackupComplete, BackupShutdown) and the copies stay; auto-release
     * contexts keep the session open until this connection closes.
     */
    private void oneShot(Exchange ex, JsonNode b, Caller c) throws Exception {
        volumes(b, c); // refused before a session exists
        Session s = openSession(ex, b, true);
        boolean done = false;
        try {
            List<String> names = volumes(b, c);
            if (b.hasNonNull("provider")) {
                List<ManagedVolume> vs = new ArrayList<>();
                Providers.Provider chosen = Providers.named(b.get("provider").asText());
                for (String v : names) {
                    if (service.btrfs().find(v) != null) {
                        if (!chosen.name().equals(Providers.BTRFS)) {
                            throw new ServiceException(VssError.VOLUME_NOT_SUPPORTED_BY_PROVIDER, "provider "
                                    + chosen.name() + " does not serve volume " + v + " (a btrfs subvolume; it is "
                                    + "served by " + Providers.BTRFS + ")");
                        }
                    } else {
                        vs.add(service.volumes().get(v));
                    }
                }
                Providers.check(chosen.name(), vs);
            }
            SnapshotSetCreator.CreatedSet made = service.createSet(s, names, protectUntil(b));
            if (s.context().persistent()) {
                if (s.context().writers()) {
                    service.backupComplete(s);
                }
                service.release(s, "one-shot set created");
                done = true;
            }
            ok(ex, 201, createdSet(made, s));
        } finally {
            if (s.context().persistent() && !done) {
                service.release(s, "one-shot set failed");
            }
        }
    }

    private ObjectNode createdSet(SnapshotSetCreator.CreatedSet c, Session s) {
        ObjectNode o = Json.object();
        o.put("set_id", c.set().id());
        o.put("session_id", s.id().toString());
        ArrayNode a = o.putArray("shadows");
        c.copies().forEach(r -> a.add(shadow(r)));
        o.set("writers", writerStatus(s));
        return o;
    }

    private ObjectNode session(Session s) {
        ObjectNode o = Json.object();
        o.put("id", s.id().toString());
        o.put("context", s.context().wireName());
        o.put("backup_type", s.backupType());
        o.put("state", s.state().name().toLowerCase());
        o.put("owner", s.owner());
        o.put("created", s.created().toString());
        o.put("lease_until", s.leaseUntil() == null ? null : s.leaseUntil().toString());
        o.put("set_id", s.setId());
        s.copies().forEach(o.putArray("shadows")::add);
        o.set("writers", writerStatus(s));
        return o;
    }

    private static ArrayNode writerStatus(Session s) {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (WriterStatus w : s.writerStatus()) {
            a.addObject().put("name", w.name()).put("kind", w.kind()).put("state", w.state().name())
                    .put("state_code", w.state().code()).put("state_label", w.state().label())
                    .put("last_error", w.failure().name()).put("last_error_label", w.failure().label())
                    .put("message", w.message());
        }
        return a;
    }

    // ------------------------------------------------------------------ writers

    private void writers(Exchange ex, HttpRequest r, List<String> p, String m, Caller c) throws Exception {
        int n = p.size();
        if (n == 2 && m.equals("GET")) {
            ok(ex, wrap("writers", Json.MAPPER.valueToTree(service.listWriters())));
            return;
        }
        if (n == 2 && m.equals("POST")) {
            JsonNode b = body(r);
            String name = text(b, "name", true);
            String xml = text(b, "metadata", false);
            WriterMetadata md = xml == null ? WriterMetadata.minimal(name) : WriterMetadata.parse(xml);
            long lease = b.path("lease_seconds").asLong(30);
            if (lease < 1 || lease > 3600) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "lease_seconds must be 1..3600, was " + lease);
            }
            ExternalWriter w = service.writers().register(name, md, Duration.ofSeconds(lease));
            access.opened(w.id().toString(), c);
            service.events().append("writer-registered", "info", "external writer " + name + " registered (" + w.id()
                    + ")", java.util.Map.of("writer", name));
            ok(ex, 201, Json.object().put("id", w.id().toString()).put("name", name).put("lease_seconds", lease));
            return;
        }
        if (n < 3) {
            notFound(r);
            return;
        }
        ExternalWriter w = external(p.get(2));
        access.owner(c, w.id().toString(), "writer");
        if (n == 3 && m.equals("DELETE")) {
            service.writers().unregister(w.id(), "it unregistered");
            service.events().append("writer-unregistered", "info", "external writer " + w.name() + " unregistered",
                    java.util.Map.of("writer", w.name()));
            ok(ex, Json.object().put("unregistered", w.id().toString()));
        } else if (n == 3 && m.equals("GET")) {
            ok(ex, Json.object().put("id", w.id().toString()).put("name", w.name()).put("alive", w.alive())
                    .put("metadata", w.metadata().toXml()));
        } else if (n == 4 && m.equals("GET") && p.get(3).equals("events")) {
            if (r.query().containsKey("stream")) {
                stream(ex, w);
            } else {
                long wait = r.query().containsKey("wait") ? parseLong(r.query().get("wait"), "wait") : 0;
                if (wait < 0 || wait > 300) {
                    throw new ServiceException(VssError.INVALID_ARGUMENT, "wait must be 0..300 seconds");
                }
                ObjectNode e = w.poll(Duration.ofSeconds(wait));
                if (e == null) {
                    ex.respond(204, new byte[0]);
                } else {
                    ok(ex, e);
                }
            }
        } else if (n == 5 && m.equals("POST") && p.get(3).equals("events")) {
            long seq = parseLong(p.get(4), "event sequence number");
            JsonNode b = body(r);
            boolean okAnswer = b.path("ok").asBoolean(false);
            WriterFailure f = okAnswer ? WriterFailure.NONE : WriterFailure.parse(b.path("failure").asText(null));
            if (!w.answer(seq, new ExternalWriter.Answer(okAnswer, f, b.path("message").asText(null)))) {
                throw new ServiceException(VssError.OBJECT_NOT_FOUND, "writer " + w.name() + " has no event " + seq
                        + " waiting for an answer (answered already, or its deadline passed)");
            }
            ok(ex, Json.object().put("accepted", seq));
        } else {
            notFound(r);
        }
    }

    private void stream(Exchange ex, ExternalWriter w) throws IOException, InterruptedException {
        Exchange.ChunkStream out = ex.stream(200, () -> {
            service.writers().unregister(w.id(), "its event stream closed");
            service.events().append("writer-gone", "warning", "external writer " + w.name()
                    + " went away (its event stream closed)", java.util.Map.of("writer", w.name()));
        });
        out.send((Json.text(Json.object().put("event", "registered").put("id", w.id().toString())) + "\n")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        while (w.alive() && ex.connection().isOpen()) {
            ObjectNode e = w.nextForStream(Duration.ofSeconds(15));
            ObjectNode line = e != null ? e : Json.object().put("event", "heartbeat");
            try {
                out.send((Json.text(line) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } catch (IOException io) {
                service.writers().unregister(w.id(), "its event stream broke: " + io.getMessage());
                return;
            }
        }
        try {
            out.end();
        } catch (IOException ignored) {
            // the writer is gone already
        }
    }

    private ExternalWriter external(String id) throws ServiceException {
        UUID u;
        try {
            u = UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + id + "' is not a writer id");
        }
        return service.writers().external(u).orElseThrow(() -> new ServiceException(VssError.OBJECT_NOT_FOUND,
                "no registered writer " + id + " (it may have been dropped when its stream closed or lease ran out; "
                        + "register again)"));
    }

    // ------------------------------------------------------------------ rendering

    private ObjectNode status(Exchange ex) {
        ObjectNode o = Json.object();
        o.put("state_directory", service.config().state().toString());
        o.put("pid", ProcessHandle.current().pid());
        o.put("started", service.started().toString());
        o.put("volumes", service.volumes().list().size());
        o.put("shadows", service.catalog().copies().size());
        o.put("sessions", service.sessions().list().size());
        o.put("creating", service.creator().busy());
        o.put("nbd_socket", service.config().nbdSocket().toString());
        o.put("caller", ex.connection().caller().user()).put("role", ex.connection().caller().role().name()
                .toLowerCase(java.util.Locale.ROOT));
        HttpServer.Stats a = ex.connection().serverStats();
        o.putObject("api").put("connections", a.open()).put("accepted", a.accepted())
                .put("refused_busy", a.refusedBusy()).put("refused_access", a.refusedAccess())
                .put("timed_out", a.timedOut()).put("accept_failures", a.acceptFailures());
        return o;
    }

    private ObjectNode foreignVolume(ForeignVolumes.Foreign f) {
        ObjectNode o = Json.object();
        o.put("name", f.name());
        o.put("layout", "btrfs");
        o.put("provider", f.provider());
        o.put("backing", f.description());
        o.put("shadow_copies", service.catalog().copies().stream().filter(c -> c.volume().equals(f.name())).count());
        return o;
    }

    private ObjectNode volume(ManagedVolume v) {
        ObjectNode o = Json.object();
        VolumeConfig c = v.config();
        o.put("name", v.name());
        o.put("id", v.id().toString());
        o.put("size", v.size());
        o.put("chunk_size", c.chunkSize());
        o.put("backing", c.backing().toString());
        o.put("layout", c.layout().shortName());
        o.put("max_shadow_copies", c.maxShadowCopies());
        o.put("shadow_copies", v.shadowCopies().size());
        Attachment a = service.attachment(v.name()).orElse(null);
        o.put("device", a == null ? null : a.loopDevice());
        if (a != null) {
            o.put("attach_path", a.path());
            o.put("attached_read_only", a.readOnly());
            o.put("attached_since", a.since().toString());
            o.put("kept_by", service.keeper());
        }
        o.put("nbd_export", v.name());
        o.put("state", v.incomplete() == null ? "ready" : "incomplete");
        o.put("incomplete", v.incomplete()); // why, and what to do (an interrupted restore), or null
        return o;
    }

    private ObjectNode storage(ManagedVolume v) throws IOException {
        VolumeEngine.ShadowStorageUsage u = v.shadowStorage();
        ObjectNode o = Json.object();
        o.put("volume", v.name());
        o.put("location", u.location());
        o.put("used", u.used());
        o.put("allocated", u.allocated());
        o.put("maximum", u.maximum());
        o.put("limit", v.config().shadowStorage().toString());
        return o;
    }

    private ObjectNode shadow(ShadowRecord s) {
        ObjectNode o = (ObjectNode) Json.MAPPER.valueToTree(s);
        ArrayNode names = o.putArray("attribute_names");
        Attributes.names(s.attributes()).forEach(names::add);
        o.put("protected", Service.isProtected(s));
        o.put("nbd_export", "shadow/" + s.id());
        o.put("schedule", previous == null ? null : previous.scheduleOf(s));
        service.volumes().find(s.volume()).flatMap(v -> v.shadowCopies().stream()
                .filter(c -> c.id().toString().equals(s.id())).findFirst()).map(ShadowCopyInfo::size)
                .ifPresent(size -> o.put("size", size));
        return o;
    }

    private ArrayNode providers() {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (Providers.Provider p : Providers.ALL) {
            ObjectNode o = a.addObject().put("name", p.name()).put("type", p.type()).put("id", p.id())
                    .put("version", p.version()).put("description", p.description());
            ArrayNode layouts = o.putArray("layouts");
            p.layouts().stream().map(l -> l.shortName()).sorted().forEach(layouts::add);
            ArrayNode attrs = o.putArray("attributes");
            p.attributes().forEach(attrs::add);
            ArrayNode vols = o.putArray("volumes");
            Providers.volumesOf(p, service.volumes()).forEach(vols::add);
            if (p.name().equals(Providers.BTRFS)) {
                service.btrfs().list().forEach(f -> vols.add(f.name()));
            }
        }
        return a;
    }

    // ------------------------------------------------------------------ request parsing

    private VolumeConfig volumeConfig(JsonNode b, Caller caller) throws ServiceException {
        String name = text(b, "name", true);
        try {
            String backing = text(b, "backing", false);
            VolumeConfig c;
            if (backing != null) {
                c = VolumeConfig.existing(name, access.backing(caller, backing));
                if (b.hasNonNull("size")) {
                    c = c.withSize(Sizes.parse(b.get("size").asText()));
                }
            } else {
                c = VolumeConfig.sparse(name, Sizes.parse(text(b, "size", true)));
            }
            if (b.hasNonNull("chunk_size")) {
                long chunk = Sizes.parse(b.get("chunk_size").asText());
                if (chunk < VolumeConfig.MIN_CHUNK_SIZE || chunk > VolumeConfig.MAX_CHUNK_SIZE) {
                    throw new IllegalArgumentException("chunk_size " + b.get("chunk_size").asText() + " is out of range "
                            + "(expected: a power of two from " + Sizes.format(VolumeConfig.MIN_CHUNK_SIZE) + " to "
                            + Sizes.format(VolumeConfig.MAX_CHUNK_SIZE) + ")");
                }
                c = c.withChunkSize((int) chunk);
            }
            if (b.hasNonNull("shadow_storage")) {
                c = c.withShadowStorage(ShadowStorageLimit.parse(b.get("shadow_storage").asText()));
            }
            if (b.hasNonNull("max_shadow_copies")) {
                c = c.withMaxShadowCopies(b.get("max_shadow_copies").asInt());
            }
            if (b.hasNonNull("layout")) {
                c = c.withLayout(VolumeLayout.parse(b.get("layout").asText()));
            }
            return c;
        } catch (IllegalArgumentException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, e.getMessage());
        }
    }

    /** The body's volume names, each one {@code c} may use. */
    private List<String> volumes(JsonNode b, Caller c) throws ServiceException {
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

    /** {@code lease_seconds}: a whole number of seconds, 1 to a day. */
    static long leaseSeconds(JsonNode b) throws ServiceException {
        JsonNode v = b.get("lease_seconds");
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 1 || v.asLong() > 86_400) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "lease_seconds must be a whole number of seconds "
                    + "from 1 to 86400; was " + abbreviate(v.toString()));
        }
        return v.asLong();
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }

    /** Only GET exists on {@code /v1/<resource>} of {@code size} segments. */
    private static void getOnly(HttpRequest r, int n, int size) throws HttpException {
        if (n != size) {
            notFound(r);
        }
        if (!r.method().equals("GET")) {
            throw new HttpException(405, r.method() + " is not allowed on " + r.path() + " (expected: GET)");
        }
    }

    private static Instant protectUntil(JsonNode b) throws ServiceException {
        String t = text(b, "protect_until", false);
        if (t == null) {
            return null;
        }
        Instant i = instant(t, "protect_until");
        if (!i.isAfter(Instant.now())) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "protect_until " + t + " is in the past");
        }
        return i;
    }

    static Instant instant(String t, String field) throws ServiceException {
        try {
            return Instant.parse(t);
        } catch (DateTimeParseException e) {
            try {
                return java.time.LocalDate.parse(t).atStartOfDay(java.time.ZoneOffset.UTC).toInstant();
            } catch (DateTimeParseException e2) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, field + " must be an ISO-8601 instant "
                        + "(2026-12-31T00:00:00Z) or date (2026-12-31); was '" + t + "'");
            }
        }
    }

    private static Set<String> strings(JsonNode b, String field) throws ServiceException {
        JsonNode v = b.get(field);
        if (v == null || v.isNull()) {
            return Set.of();
        }
        if (!v.isArray()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' must be a list of names");
        }
        Set<String> out = new LinkedHashSet<>();
        v.forEach(x -> out.add(x.asText()));
        return out;
    }

    private static String text(JsonNode b, String field, boolean required) throws ServiceException {
        JsonNode v = b.get(field);
        if (v == null || v.isNull() || (v.isTextual() && v.asText().isEmpty())) {
            if (required) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' is required");
            }
            return null;
        }
        if (!v.isValueNode()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' must be a string");
        }
        return v.asText();
    }

    private static long parseLong(String s, String what) throws ServiceException {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, what + " must be a number, was '" + s + "'");
        }
    }

    private static JsonNode body(HttpRequest r) throws ServiceException {
        JsonNode n = Json.parse(r.body());
        if (!n.isObject()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "request body must be a JSON object");
        }
        return n;
    }

    private static ObjectNode wrap(String name, JsonNode n) {
        ObjectNode o = Json.object();
        o.set(name, n);
        return o;
    }

    private static void ok(Exchange ex, JsonNode body) throws IOException {
        ok(ex, 200, body);
    }

    private static void ok(Exchange ex, int status, JsonNode body) throws IOException {
        ex.respond(status, Json.bytes(body));
    }

    private static void notFound(HttpRequest r) throws HttpException {
        throw new HttpException(404, "no API route " + r.method() + " " + r.path());
    }

    /** Maps failures to the error JSON; unexpected ones keep their message (they are our bugs to see). */
    public static Exchange.Answer error(Throwable t) {
        VssError e;
        String writer = null;
        if (t instanceof ServiceException se) {
            e = se.error();
            writer = se.writer();
        } else if (t instanceof VolumeException ve) {
            e = VssError.of(ve.code());
        } else if (t instanceof dev.shadowcopy.image.repository.RepositoryException re) {
            e = dev.shadowcopy.service.backup.RepositoryAccess.translate(re).error();
        } else if (t instanceof IllegalArgumentException) {
            e = VssError.INVALID_ARGUMENT;
        } else {
            e = VssError.UNEXPECTED;
        }
        ObjectNode o = Json.object();
        ObjectNode err = o.putObject("error");
        err.put("code", e.vssName());
        err.put("hresult", e.hresult());
        err.put("message", t.getMessage() == null ? t.toString() : t.getMessage());
        err.put("retryable", e.retryable());
        err.put("writer", writer);
        return new Exchange.Answer(e.httpStatus(), Json.bytes(o));
    }
}
