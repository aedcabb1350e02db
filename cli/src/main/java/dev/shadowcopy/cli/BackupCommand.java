package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.client.ApiClient;
import dev.shadowcopy.volume.Sizes;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code shadowcopy backup --for VOL[,VOL…] --repo DIR}: an image backup run by the daemon. */
@Command(name = "backup", mixinStandardHelpOptions = true, description = {
    "Backs up volumes into a repository: one shadow copy set (writers frozen and thawed around it), every volume "
        + "read from its shadow copy, then BackupComplete to the writers and the copies released.",
    "Incremental by default when the repository has a backup of the volume: only the chunks change tracking "
        + "reports are read. Every backup point restores on its own.",
    "The repository is created on first use (encrypted when a passphrase is given)."})
final class BackupCommand extends ApiCommand {
    @Option(names = "--for", required = true, split = ",", paramLabel = "VOL[,VOL…]", description = "Volumes.")
    List<String> volumes;

    @Option(names = "--repo", required = true, paramLabel = "DIR|s3://BUCKET/PREFIX", description = "Repository: a "
            + "directory, or S3 with the daemon's AWS configuration (docs/backup.md).")
    String repo;

    @Option(names = "--full", description = "Read every allocated chunk even where change tracking knows better.")
    boolean full;

    @Option(names = "--label", paramLabel = "TEXT", description = "A note stored with the backup.")
    String label;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Parallel chunk workers "
            + "(default: one per core).")
    int threads;

    @Option(names = "--exclude-writer", paramLabel = "NAME", description = "Leave a writer out of this backup.")
    List<String> excludeWriters;

    @Option(names = "--json", description = "Print the result as JSON (no progress).")
    boolean json;

    @Option(names = "--verify", description = "Then prove the new backup restorable (backups verify --deep); exit 1 "
            + "when it is not.")
    boolean verify;

    @Mixin
    PassphraseOption passphrase;

    @Override
    int run(ApiClient api) throws Exception {
        ObjectNode b = Json.object();
        volumes.forEach(b.putArray("volumes")::add);
        b.put("repository", dev.shadowcopy.image.location.RepositoryLocation.parse(repo).toString());
        b.put("full", full);
        b.put("threads", threads);
        b.put("verify", verify);
        if (label != null) {
            b.put("label", label);
        }
        if (excludeWriters != null) {
            excludeWriters.forEach(b.putArray("exclude_writers")::add);
        }
        char[] p = passphrase.get();
        if (p != null) {
            b.put("passphrase", new String(p));
        }
        ProgressPrinter progress = new ProgressPrinter(json);
        JsonNode r;
        try {
            r = api.stream("POST", "/v1/backups", b, n -> progress.update(n.path("phase").asText(),
                    n.path("done").asLong(), n.path("total").asLong()));
        } finally {
            progress.finish();
        }
        boolean verified = !r.has("verification") || r.path("verification").path("ok").asBoolean();
        if (json) {
            Format.json(System.out, r);
            return verified ? 0 : 1;
        }
        JsonNode m = r.path("backup");
        System.out.println("Backup " + m.path("id").asText() + " of " + String.join(", ", volumes) + " written to "
                + repo + " (" + m.path("consistency").asText() + ", " + r.path("elapsed_ms").asLong() / 1000.0 + " s)");
        for (JsonNode v : m.path("volumes")) {
            String mode = v.path("mode").asText();
            System.out.println("    " + v.path("name").asText() + ": " + mode
                    + (v.hasNonNull("base") ? " from " + v.path("base").asText() : "") + ", "
                    + Sizes.format(v.path("size").asLong()) + " volume, " + Sizes.format(v.path("allocated_bytes").asLong())
                    + " of data, " + Sizes.format(v.path("bytes_read").asLong()) + " read, "
                    + v.path("new_chunks").asLong() + " new chunks (" + Sizes.format(v.path("stored_bytes").asLong())
                    + " stored)");
        }
        for (JsonNode w : r.path("warnings")) {
            System.out.println("    warning: " + w.asText());
        }
        for (JsonNode w : r.path("backup_complete_failures")) {
            System.out.println("    writer failed at backup-complete: " + w.asText());
        }
        if (r.has("verification")) {
            JsonNode v = r.get("verification");
            System.out.println("    verification: " + (verified ? "proven restorable" : "FAILED"));
            for (JsonNode c : v.path("checks")) {
                System.out.println("        " + Format.check(c));
            }
        }
        return verified ? 0 : 1;
    }
}
