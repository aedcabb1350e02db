package dev.shadowcopy.cli;

import dev.shadowcopy.image.manifest.BackupStore;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.client.ApiClient;
import dev.shadowcopy.volume.FileDevice;
import dev.shadowcopy.volume.Sizes;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
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
        + "the target back."})
final class RestoreCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ID", description = "Backup id, a unique prefix, or 'latest'.")
    String id;

    @Option(names = "--volume", required = true, paramLabel = "VOL", description = "Volume of the backup point.")
    String volume;

    @Option(names = "--repo", required = true, paramLabel = "DIR", description = "Repository directory.")
    Path repo;

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

    @Mixin
    PassphraseOption passphrase;

    @Mixin
    StateOption state;

    @Override
    public Integer call() throws Exception {
        int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ProgressPrinter progress = new ProgressPrinter(json);
        if (to.startsWith("volume:")) {
            ObjectNode b = Json.object().put("repository", repo.toAbsolutePath().normalize().toString())
                    .put("backup", id).put("volume", volume).put("target", to.substring("volume:".length()))
                    .put("verify", verify).put("threads", t);
            char[] p = passphrase.get();
            if (p != null) {
                b.put("passphrase", new String(p));
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
        Repository r = Repository.open(repo, passphrase.get());
        String backup = BackupStore.of(r).resolve(id);
        Manifest m = BackupStore.of(r).manifest(backup);
        Manifest.VolumeEntry v = m.volume(volume);
        if (v == null) {
            throw new IllegalArgumentException("backup " + backup + " has no volume " + volume);
        }
        Path target = Path.of(to).toAbsolutePath();
        if (Files.exists(target) && !force) {
            throw new IllegalArgumentException(target + " exists; add --force to overwrite it");
        }
        // A file is written under a temporary name and renamed into place once complete and durable: a restore
        // that fails (or is interrupted) never leaves a partial file under the target's name. A block device is
        // written in place (it cannot be renamed); a failure there says so.
        boolean fresh = !Files.exists(target) || Files.isRegularFile(target);
        Path written = fresh ? target.resolveSibling("." + target.getFileName() + ".restoring-"
                + ProcessHandle.current().pid()) : target;
        Thread cleanup = fresh ? Thread.ofPlatform().unstarted(() -> deleteQuietly(written)) : null;
        Restorer.Result res;
        boolean done = false;
        try {
            if (cleanup != null) {
                Runtime.getRuntime().addShutdownHook(cleanup); // Ctrl-C or SIGTERM: no partial file left either
            }
            try (FileDevice dev = fresh ? FileDevice.create(written, v.size()) : FileDevice.open(target, false)) {
                res = Restorer.restore(r, backup, volume, dev, new Restorer.Options(fresh, verify, t,
                        Duration.ofMinutes(10)), progress);
            }
            if (fresh) {
                Files.move(written, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                try (FileChannel dir = FileChannel.open(target.getParent(), StandardOpenOption.READ)) {
                    dir.force(true); // the rename is durable before we say "restored"
                }
            }
            done = true;
        } catch (IOException | RuntimeException e) {
            if (!fresh) {
                throw new IOException("restore into " + target + " failed part way; the device holds a mix of old "
                        + "and restored data, restore it again: " + e.getMessage(), e);
            }
            throw e;
        } finally {
            progress.finish();
            if (fresh && !done) {
                deleteQuietly(written);
            }
            if (cleanup != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(cleanup);
                } catch (IllegalStateException e) {
                    // the JVM is shutting down: the hook runs and deletes the temporary file
                }
            }
        }
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

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            System.err.println("shadowcopy: could not remove the partial restore " + p + ": " + e.getMessage());
        }
    }
}
