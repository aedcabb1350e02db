package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.FileRestore;
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
        + "the target back."})
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

    @Mixin
    PassphraseOption passphrase;

    @Mixin
    StateOption state;

    @Override
    public Integer call() throws Exception {
        int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ProgressPrinter progress = new ProgressPrinter(json);
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
