package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.FileRestore;
import dev.shadowcopy.image.restore.ServeOverlay;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.client.ApiClient;
import dev.shadowcopy.volume.Sizes;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code shadowcopy restore ID --volume VOL --repo DIR --to TARGET}. A file or block device is written by this
 * process (no daemon needed: restores work on another machine); {@code volume:NAME} asks the daemon to restore
 * into a managed volume.
 */
@Command(name = "restore", mixinStandardHelpOptions = true, description = {
    "Restores a volume of a backup point to a file, a block device, or a managed volume (volume:NAME).",
    "A new file is written sparse. Every chunk is checked against its hash as it is read; --verify also reads "
        + "the target back.",
    "--live (with volume:NAME): NAME is usable at once (volume attach, NBD) while the backup is copied into it in "
        + "the background; reads of what is not copied yet come from the repository, writes go to the volume. The "
        + "copy survives daemon restarts; `volume list` shows how far it got. With --overlay PATH the writes a "
        + "`backups serve --writable --overlay PATH` kept are part of what is restored, and a server still running "
        + "on it is stopped and its socket served by the daemon from then on (the guest reconnects)."})
final class RestoreCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ID", description = "Backup id, a unique prefix, or 'latest'.")
    String id;

    @Option(names = "--volume", required = true, paramLabel = "VOL", description = "Volume of the backup point.")
    String volume;

    @Option(names = "--repo", required = true, paramLabel = "DIR|s3://BUCKET/PREFIX", description = "Repository: a "
            + "directory or S3 (see backups --help).")
    String repo;

    @Option(names = "--host", paramLabel = "NAME", description = "'latest' means this host's latest backup (default: "
            + "this machine's name; for volume:NAME, the daemon's host).")
    String host;

    @Option(names = "--to", required = true, paramLabel = "FILE|DEVICE|volume:NAME", description = "Target.")
    String to;

    @Option(names = "--force", description = "Overwrite an existing file or device.")
    boolean force;

    @Option(names = "--verify", description = "Read the target back and check every chunk.")
    boolean verify;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Parallel workers.")
    int threads;

    @Option(names = "--json", description = "Print the result as JSON (no progress).")
    boolean json;

    @Option(names = "--live", description = "With volume:NAME: usable at once, filled in the background.")
    boolean live;

    @Option(names = "--overlay", paramLabel = "PATH", description = "With --live: also restore the writes kept in "
            + "this serve overlay (and take over its running server).")
    Path overlay;

    @Option(names = "--rate", paramLabel = "MB/s", defaultValue = "0", description = "With --live: copy at most this "
            + "fast (default: as fast as it goes).")
    int rate;

    @Option(names = "--no-wait", description = "With --live: return once the volume is usable, without following "
            + "the copy.")
    boolean noWait;

    @Mixin
    PassphraseOption passphrase;

    @Mixin
    StateOption state;

    /** {@code --live}: asks the daemon, then follows the copy (unless {@code --no-wait}). */
    private int live(int t, ProgressPrinter progress) throws Exception {
        String name = to.substring("volume:".length());
        ObjectNode b = Json.object().put("repository", RepositoryLocation.parse(repo).toString())
                .put("backup", id).put("volume", volume).put("target", name).put("live", true).put("rate_mbps", rate);
        char[] p = passphrase.get();
        if (p != null) {
            b.put("passphrase", new String(p));
        }
        String takenOver = null;
        if (overlay != null) {
            Path o = overlay.toAbsolutePath().normalize();
            ServeOverlay.Binding bound = ServeOverlay.binding(o);
            if (bound == null) {
                throw new IllegalArgumentException(o + " is no serve overlay (no " + ServeOverlay.metaOf(o) + ")");
            }
            if (!"latest".equals(id) && !bound.backup().startsWith(id) || !bound.volume().equals(volume)) {
                throw new IllegalArgumentException("overlay " + o + " holds writes to volume " + bound.volume()
                        + " of backup " + bound.backup() + "; restore that one with it");
            }
            b.put("backup", bound.backup()).put("overlay", o.toString());
            ServeOverlay.Serving serving = ServeOverlay.serving(o);
            if (serving != null) { // hand its guest over: the server stops (flushing), the daemon takes its socket
                ProcessHandle h = ProcessHandle.of(serving.pid()).orElseThrow();
                h.destroy();
                h.onExit().get(60, java.util.concurrent.TimeUnit.SECONDS);
                b.put("socket", serving.socket()).put("export", serving.export());
                takenOver = serving.socket();
            }
        }
        JsonNode r;
        try (ApiClient api = state.connect()) {
            r = api.stream("POST", "/v1/restores", b, n -> { });
            if (!json) {
                System.out.println("Volume " + name + " is usable now (shadowcopy volume attach " + name + ", or NBD "
                        + "export " + name + ")" + (takenOver == null ? "" : "; the guest of the served backup "
                        + "reconnects to " + takenOver + ", now served by the daemon") + "; restoring "
                        + r.path("from").asText() + " into it in the background");
            }
            while (!noWait && !r.path("complete").asBoolean()) {
                progress.update("restore into volume " + name, r.path("bytes_in_place").asLong(), r.path("bytes")
                        .asLong());
                Thread.sleep(500);
                r = api.get("/v1/migrations/" + name);
            }
        } finally {
            progress.finish();
        }
        if (json) {
            Format.json(System.out, r);
        } else if (r.path("complete").asBoolean()) {
            System.out.println("Volume " + name + " is restored: an ordinary volume now");
        }
        return 0;
    }

    @Override
    public Integer call() throws Exception {
        int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ProgressPrinter progress = new ProgressPrinter(json);
        if ((live || overlay != null) && !to.startsWith("volume:")) {
            throw new IllegalArgumentException("--live, --overlay: the target is a managed volume (--to volume:NAME)");
        }
        if (overlay != null && !live) {
            throw new IllegalArgumentException("--overlay restores a served overlay live: add --live");
        }
        if (live) {
            return live(t, progress);
        }
        if (to.startsWith("volume:")) {
            ObjectNode b = Json.object().put("repository", RepositoryLocation.parse(repo).toString())
                    .put("backup", id).put("volume", volume).put("target", to.substring("volume:".length()))
                    .put("verify", verify).put("threads", t);
            char[] p = passphrase.get();
            if (p != null) {
                b.put("passphrase", new String(p));
            }
            if (host != null) {
                b.put("host", host);
            }
            JsonNode r;
            try (ApiClient api = state.connect()) {
                r = api.stream("POST", "/v1/restores", b, n -> progress.update(n.path("phase").asText(),
                        n.path("done").asLong(), n.path("total").asLong()));
            } finally {
                progress.finish();
            }
            if (json) {
                Format.json(System.out, r);
            } else {
                System.out.println("Restored volume " + volume + " of backup " + r.path("backup").asText()
                        + " into " + (r.path("created").asBoolean() ? "new " : "") + "volume "
                        + r.path("target").asText() + " (" + Sizes.format(r.path("size").asLong()) + ", "
                        + r.path("elapsed_ms").asLong() / 1000.0 + " s" + (verify ? ", verified" : "") + ")");
            }
            return 0;
        }
        FileRestore.Result fr;
        try (Repository r = RepositoryLocation.parse(repo).open(passphrase.get())) {
            String resolved = BackupStore.of(r).resolve(id, host != null ? host : Leases.HostName.current());
            fr = FileRestore.restore(r, resolved, volume, Path.of(to), force, verify, t, progress);
        } finally {
            progress.finish();
        }
        String backup = fr.backup();
        Path target = fr.target();
        Restorer.Result res = fr.restore();
        if (json) {
            Format.json(System.out, Json.MAPPER.valueToTree(java.util.Map.of("backup", backup, "volume", volume,
                    "target", target.toString(), "size", res.size(), "bytes_written", res.bytesWritten(),
                    "verified", res.verified(), "elapsed_ms", res.elapsed().toMillis())));
        } else {
            System.out.println("Restored volume " + volume + " of backup " + backup + " to " + target + " ("
                    + Sizes.format(res.size()) + ", " + Sizes.format(res.bytesWritten()) + " written, "
                    + res.elapsed().toMillis() / 1000.0 + " s" + (verify ? ", verified" : "") + ")");
        }
        return 0;
    }
}
