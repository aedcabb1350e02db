package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.Json;
import dev.shadowcopy.service.PreviousVersions;
import dev.shadowcopy.service.ServiceException;
import dev.shadowcopy.service.VssError;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.access.Caller;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.http.Exchange;
import dev.shadowcopy.service.http.HttpException;
import dev.shadowcopy.service.http.HttpRequest;
import dev.shadowcopy.service.schedule.Schedule;
import dev.shadowcopy.service.schedule.Scheduler;
import dev.shadowcopy.service.versions.SambaShares;
import dev.shadowcopy.service.versions.Versions;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * The routes of issue 18, all for the administrator (they read and write any file, and define what the service
 * does on its own):
 *
 * <pre>
 * GET    /v1/schedules                      every schedule, its next run and its copies
 * POST   /v1/schedules                      {"name","volumes","calendar","keep","repository"}
 * DELETE /v1/schedules/NAME                 (its copies stay)
 * POST   /v1/schedules/NAME/run             run now; the run's result
 * POST   /v1/versions                       {"path"}: the distinct versions of a file or directory tree
 * POST   /v1/versions/restore               {"path","shadow","to","overwrite"}
 * GET    /v1/shares                         volumes shared over Samba
 * POST   /v1/shares                         {"volume","name","snapdir"}: returns the smb.conf section
 * DELETE /v1/shares/VOL
 * </pre>
 */
public final class PreviousVersionsApi {
    private final PreviousVersions previous;
    private final ApiAccess access;

    public PreviousVersionsApi(PreviousVersions previous, ApiAccess access) {
        this.previous = previous;
        this.access = access;
    }

    /** The schedule that made {@code copy}, for the shadow copy JSON; null if none. */
    String scheduleOf(ShadowRecord copy) {
        return previous.scheduleOf(copy);
    }

    /** Handles the request if its resource is one of these; false otherwise. */
    boolean handle(Exchange ex, Caller c) throws Exception {
        HttpRequest r = ex.request();
        List<String> p = r.segments();
        String res = p.size() > 1 ? p.get(1) : "";
        if (!List.of("schedules", "versions", "shares").contains(res)) {
            return false;
        }
        access.admin(c, switch (res) {
            case "schedules" -> "scheduling shadow copies";
            case "versions" -> "previous versions of files";
            default -> "Samba shares";
        });
        try {
            switch (res) {
                case "schedules" -> schedules(ex, r, p);
                case "versions" -> versions(ex, r, p);
                default -> shares(ex, r, p);
            }
        } catch (NoSuchElementException e) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, e.getMessage());
        } catch (FileAlreadyExistsException e) {
            throw new ServiceException(VssError.OBJECT_ALREADY_EXISTS, e.getFile() + ": " + e.getReason());
        } catch (NoSuchFileException e) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, e.getFile() + ": " + (e.getReason() == null
                    ? "no such file or directory" : e.getReason()));
        }
        return true;
    }

    private void schedules(Exchange ex, HttpRequest r, List<String> p) throws Exception {
        Scheduler s = previous.scheduler();
        int n = p.size();
        String m = r.method();
        if (n == 2 && m.equals("GET")) {
            ArrayNode a = Json.MAPPER.createArrayNode();
            for (Scheduler.View v : s.list()) {
                ObjectNode o = schedule(v.schedule());
                o.put("next_run", v.next() == null ? null : v.next().toString());
                v.copies().forEach(o.putArray("copies")::add);
                a.add(o);
            }
            ok(ex, 200, wrap("schedules", a));
        } else if (n == 2 && m.equals("POST")) {
            JsonNode b = body(r);
            List<String> volumes = new ArrayList<>();
            b.path("volumes").forEach(v -> volumes.add(v.asText()));
            String repo = text(b, "repository", false);
            Schedule added = s.add(text(b, "name", true), volumes, text(b, "calendar", true), text(b, "keep", true),
                    repo == null ? null : access.repository(ex.connection().caller(), repo).toString());
            ObjectNode o = schedule(added);
            o.put("next_run", added.due() == null ? null : added.due().toString());
            ok(ex, 201, o);
        } else if (n == 3 && m.equals("DELETE")) {
            ok(ex, 200, Json.object().put("removed", s.remove(p.get(2)).name()));
        } else if (n == 4 && m.equals("POST") && p.get(3).equals("run")) {
            ok(ex, 200, Json.MAPPER.valueToTree(s.runNow(p.get(2)))); // a failed run is a result, not an API error
        } else {
            throw new HttpException(404, "no API route " + m + " " + r.path());
        }
    }

    private static ObjectNode schedule(Schedule s) {
        ObjectNode o = Json.object().put("name", s.name());
        s.volumes().forEach(o.putArray("volumes")::add);
        o.put("calendar", s.calendar()).put("keep", s.keep()).put("repository", s.repository())
                .put("created", s.created().toString())
                .put("last_run", s.lastRun() == null ? null : s.lastRun().toString())
                .put("last_result", s.lastResult()).put("last_error", s.lastError());
        return o;
    }

    private void versions(Exchange ex, HttpRequest r, List<String> p) throws Exception {
        int n = p.size();
        if (!r.method().equals("POST") || n > 3 || (n == 3 && !p.get(2).equals("restore"))) {
            throw new HttpException(404, "no API route " + r.method() + " " + r.path());
        }
        JsonNode b = body(r);
        Path path = absolute(text(b, "path", true), "path");
        Versions v = previous.versions();
        if (n == 2) {
            Versions.Listing l = v.list(path);
            ObjectNode o = Json.object().put("path", l.path().toString()).put("volume", l.volume())
                    .put("mount_point", l.mountPoint().toString()).put("relative", l.relative());
            ArrayNode a = o.putArray("versions");
            for (Versions.Version x : l.versions()) {
                ObjectNode e = a.addObject().put("shadow", x.shadow()).put("created", x.created().toString());
                x.copies().forEach(e.putArray("copies")::add);
                e.put("type", x.type()).put("size", x.size()).put("mtime", x.mtime().toString()).put("mode", x.mode())
                        .put("uid", x.uid()).put("gid", x.gid()).put("sha256", x.sha256()).put("current", x.current());
            }
            ArrayNode skipped = o.putArray("skipped");
            for (Versions.Skipped x : l.skipped()) {
                skipped.addObject().put("shadow", x.shadow()).put("created", x.created().toString())
                        .put("reason", x.reason());
            }
            ok(ex, 200, o);
        } else {
            String to = text(b, "to", false);
            Versions.Restored res = v.restore(path, text(b, "shadow", true), to == null ? null : absolute(to, "to"),
                    b.path("overwrite").asBoolean(false));
            ok(ex, 200, Json.object().put("path", res.path().toString()).put("shadow", res.shadow())
                    .put("to", res.to().toString()).put("replaced", res.replaced()));
        }
    }

    private void shares(Exchange ex, HttpRequest r, List<String> p) throws Exception {
        int n = p.size();
        String m = r.method();
        SambaShares shares = previous.shares();
        if (n == 2 && m.equals("GET")) {
            ok(ex, 200, wrap("shares", Json.MAPPER.valueToTree(shares.list())));
        } else if (n == 2 && m.equals("POST")) {
            JsonNode b = body(r);
            String volume = text(b, "volume", true);
            Path mp = previous.mountPoint(volume);
            if (mp == null) {
                throw new ServiceException(VssError.BAD_STATE, "volume " + volume + " is not mounted: attach it "
                        + "('shadowcopy volume attach " + volume + "') and mount its device first; the share's path is "
                        + "its mount point");
            }
            String snap = text(b, "snapdir", false);
            Path snapdir = snap == null ? SambaShares.DEFAULT_ROOT.resolve(volume) : absolute(snap, "snapdir");
            if (snapdir.startsWith(mp)) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "the snapshot directory " + snapdir + " is "
                        + "inside the volume's own mount " + mp + " (its copies would contain mounts of themselves); "
                        + "choose a directory outside it");
            }
            if (snapdir.startsWith(previous.stateDir())) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "the snapshot directory " + snapdir + " is "
                        + "inside the service's private state directory, which smbd's users cannot reach");
            }
            SambaShares.Share share = shares.add(new SambaShares.Share(volume, text(b, "name", true),
                    snapdir.toString()));
            previous.mounts().tick(); // the directory is current before the answer
            ObjectNode o = Json.MAPPER.valueToTree(share);
            o.put("mount_point", mp.toString()).put("smb_conf", SambaShares.smbConf(share, mp));
            ok(ex, 201, o);
        } else if (n == 3 && m.equals("DELETE")) {
            SambaShares.Share s = shares.remove(p.get(2)).orElseThrow(() -> new NoSuchElementException("volume "
                    + p.get(2) + " is not shared"));
            ok(ex, 200, Json.object().put("unshared", s.volume()).put("snapdir", s.snapdir()));
        } else {
            throw new HttpException(404, "no API route " + m + " " + r.path());
        }
    }

    private static Path absolute(String raw, String field) throws ServiceException {
        if (raw.indexOf('\0') >= 0 || !raw.startsWith("/")) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' must be an absolute path, was '"
                    + raw + "'");
        }
        return Path.of(raw).normalize();
    }

    private static JsonNode body(HttpRequest r) throws ServiceException {
        JsonNode n = Json.parse(r.body());
        if (!n.isObject()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "request body must be a JSON object");
        }
        return n;
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

    private static ObjectNode wrap(String name, JsonNode n) {
        ObjectNode o = Json.object();
        o.set(name, n);
        return o;
    }

    private static void ok(Exchange ex, int status, JsonNode body) throws IOException {
        ex.respond(status, Json.bytes(body));
    }
}
