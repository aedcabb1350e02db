package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.backup.Backups;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.peer.Caller;
import dev.shadowcopy.service.backup.BackupJob;
import dev.shadowcopy.service.backup.DeepVerify;
import dev.shadowcopy.service.backup.Migrations;
import dev.shadowcopy.service.backup.RestoreJob;
import dev.shadowcopy.service.http.Exchange;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code POST /v1/backups} and {@code POST /v1/restores}: long jobs answered as a stream of NDJSON lines,
 * {@code {"event":"progress",...}} a few times a second, then one {@code {"event":"result",...}} or
 * {@code {"event":"error","error":{...}}}. A client that goes away cancels the job (the next progress line
 * fails), which aborts the backup: no backup point, the session released, its shadow copies deleted.
 */
final class BackupsResource {
    private static final long PROGRESS_NANOS = 250_000_000L;

    private final Backups backups;
    private final ApiAccess access;

    BackupsResource(Backups backups, ApiAccess access) {
        this.backups = backups;
        this.access = access;
    }

    void register(Routes routes) {
        routes.post("/v1/backups", c -> backup(c.exchange(), c.body(), c.caller()))
                .post("/v1/restores", c -> restore(c.exchange(), c.body(), c.caller()))
                .post("/v1/verifications", c -> verify(c.exchange(), c.body(), c.caller()))
                .get("/v1/migrations", this::migrations)
                .get("/v1/migrations/{name}", this::migration);
    }

    private void backup(Exchange ex, JsonNode b, Caller c) throws Exception {
        List<String> volumes = new ArrayList<>();
        for (JsonNode n : b.path("volumes")) {
            access.volume(c, n.asText());
            volumes.add(n.asText());
        }
        Set<String> exclude = new LinkedHashSet<>();
        b.path("exclude_writers").forEach(n -> exclude.add(n.asText()));
        if (b.path("verify").asBoolean(false)) {
            access.admin(c, "verifying the backup deeply (it attaches and mounts backup points and starts databases)");
        }
        BackupJob.Request req = new BackupJob.Request(volumes, repository(b, c), b.path("full").asBoolean(false),
                passphrase(b), b.hasNonNull("label") ? b.get("label").asText() : null, threads(b), exclude,
                b.path("verify").asBoolean(false));
        run(ex, progress -> {
            BackupJob.Result res = backups.backup(req, progress);
            ObjectNode o = Json.object().put("event", "result");
            o.set("backup", Json.MAPPER.valueToTree(res.manifest()));
            o.set("warnings", Json.MAPPER.valueToTree(res.warnings()));
            o.set("backup_complete_failures", Json.MAPPER.valueToTree(res.backupCompleteFailures()));
            o.put("elapsed_ms", res.elapsed().toMillis());
            if (res.verification() != null) {
                o.set("verification", Json.MAPPER.valueToTree(res.verification()));
            }
            return o;
        });
    }

    /** {@code backups verify --deep}: chunks, file systems and databases of the chosen points; verdicts stored. */
    private void verify(Exchange ex, JsonNode b, Caller c) throws Exception {
        access.admin(c, "deep verification (it attaches and mounts backup points and starts databases)");
        List<String> ids = new ArrayList<>();
        b.path("backups").forEach(n -> ids.add(n.asText()));
        String repo = repository(b, c);
        char[] pass = passphrase(b);
        int threads = threads(b);
        run(ex, progress -> {
            DeepVerify.Result r = backups.verify(repo, pass, ids, threads, progress);
            ObjectNode o = Json.object().put("event", "result").put("ok", r.ok());
            o.set("verdicts", Json.MAPPER.valueToTree(r.verdicts()));
            ObjectNode ch = o.putObject("chunks");
            ch.put("backups", r.chunks().backups()).put("chunks_checked", r.chunks().chunksChecked())
                    .put("bytes_checked", r.chunks().bytesChecked()).put("ok", r.chunks().ok())
                    .put("elapsed_ms", r.chunks().elapsed().toMillis());
            ch.set("damaged", Json.MAPPER.valueToTree(r.chunks().damaged()));
            return o;
        });
    }

    private void restore(Exchange ex, JsonNode b, Caller c) throws Exception {
        String target = b.hasNonNull("target") ? b.get("target").asText() : text(b, "volume");
        access.volume(c, target);
        if (b.path("live").asBoolean(false)) {
            restoreLive(ex, b, c, target);
            return;
        }
        RestoreJob.Request req = new RestoreJob.Request(repository(b, c), passphrase(b), text(b, "backup"),
                text(b, "volume"), target, b.path("verify").asBoolean(false), threads(b),
                b.hasNonNull("host") ? b.get("host").asText() : null);
        run(ex, progress -> {
            RestoreJob.Result res = backups.restore(req, progress);
            ObjectNode o = Json.object().put("event", "result");
            o.put("backup", res.backup()).put("volume", res.volume()).put("target", res.target())
                    .put("created", res.created()).put("size", res.restore().size())
                    .put("bytes_written", res.restore().bytesWritten()).put("verified", res.restore().verified())
                    .put("elapsed_ms", res.restore().elapsed().toMillis());
            return o;
        });
    }

    /** A live restore: answered (one result line) as soon as the volume is usable; the copy goes on in the daemon. */
    private void restoreLive(Exchange ex, JsonNode b, Caller c, String target) throws Exception {
        Path overlay = null;
        Path socket = null;
        if (b.hasNonNull("overlay") || b.hasNonNull("socket")) {
            access.admin(c, "migrating a served backup (its overlay and socket)");
            overlay = b.hasNonNull("overlay") ? access.adminPath(c, b.get("overlay").asText(), "overlay") : null;
            socket = b.hasNonNull("socket") ? access.adminPath(c, b.get("socket").asText(), "socket") : null;
        }
        long rate = b.path("rate_mbps").asLong(0);
        if (rate < 0 || rate > 1_000_000) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "rate_mbps " + rate + " is out of range (0 for no "
                    + "limit, up to 1000000)");
        }
        Migrations.Request req = new Migrations.Request(repository(b, c), passphrase(b), text(b, "backup"),
                text(b, "volume"), target, overlay, socket, b.hasNonNull("export") ? b.get("export").asText() : null,
                (int) rate);
        run(ex, progress -> migrationJson(backups.restoreLive(req)).put("event", "result"));
    }

    private void migrations(Call c) throws Exception {
        com.fasterxml.jackson.databind.node.ArrayNode a = Json.MAPPER.createArrayNode();
        for (Migrations.Status s : backups.migrations().list()) {
            if (access.sees(c.caller(), s.volume())) {
                a.add(migrationJson(s));
            }
        }
        c.ok(Json.object().set("migrations", a));
    }

    private void migration(Call c) throws Exception {
        access.volume(c.caller(), c.param("name"));
        c.ok(migrationJson(backups.migrations().status(c.param("name"))));
    }

    private static ObjectNode migrationJson(Migrations.Status s) {
        return Json.object().put("volume", s.volume()).put("from", s.from()).put("bytes_in_place", s.bytesInPlace())
                .put("bytes", s.bytes()).put("complete", s.complete()).put("problem", s.problem());
    }

    private interface Job {
        ObjectNode run(Progress progress) throws Exception;
    }

    private void run(Exchange ex, Job job) throws IOException {
        AtomicBoolean gone = new AtomicBoolean();
        Exchange.ChunkStream out = ex.stream(200, () -> gone.set(true));
        long[] last = {0};
        Progress progress = (phase, done, total) -> {
            if (gone.get()) {
                throw new IOException("the requester went away; job cancelled");
            }
            long now = System.nanoTime();
            if (now - last[0] >= PROGRESS_NANOS || done == total) {
                last[0] = now;
                send(out, Json.object().put("event", "progress").put("phase", phase).put("done", done)
                        .put("total", total));
            }
        };
        ObjectNode result;
        try {
            result = job.run(progress);
        } catch (Exception e) {
            Exchange.Answer a = Api.error(e);
            ObjectNode o = (ObjectNode) Json.MAPPER.readTree(a.body());
            o.put("event", "error").put("status", a.status());
            result = o;
        }
        try {
            send(out, result);
            out.end();
        } catch (IOException ignored) {
            // the requester is gone; the job's outcome is in the event log
        }
    }

    private static void send(Exchange.ChunkStream out, ObjectNode line) throws IOException {
        synchronized (out) {
            out.send((Json.text(line) + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    private String repository(JsonNode b, Caller c) throws ServiceException {
        return access.repositoryLocation(c, text(b, "repository"));
    }

    private static char[] passphrase(JsonNode b) {
        return b.hasNonNull("passphrase") ? b.get("passphrase").asText().toCharArray() : null;
    }

    private static int threads(JsonNode b) {
        int t = b.path("threads").asInt(0);
        return t > 0 ? Math.min(t, 64) : Runtime.getRuntime().availableProcessors();
    }

    private static String text(JsonNode b, String field) throws ServiceException {
        JsonNode n = b.get(field);
        if (n == null || n.isNull() || n.asText().isEmpty()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "missing field '" + field + "'");
        }
        return n.asText();
    }
}
