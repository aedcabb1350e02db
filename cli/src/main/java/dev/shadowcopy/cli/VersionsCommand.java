package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.client.ApiClient;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.volume.Sizes;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Explorer's Previous Versions tab: a file's (or directory's) distinct versions across shadow copies. */
@Command(name = "versions", mixinStandardHelpOptions = true, description = {
    "Lists the distinct versions of PATH (a file or directory on a mounted attached volume or a btrfs subvolume "
        + "volume) in the volume's shadow copies, newest first; copies holding the same content are one version.",
    "With --restore ID: copies that version back, beside the original as 'NAME (YYYY-MM-DD HHMM)' or to --to DEST, "
        + "keeping mode, owner, times and extended attributes; an existing file is replaced only with --overwrite."})
final class VersionsCommand extends ApiCommand {
    @Parameters(index = "0", paramLabel = "PATH")
    Path path;

    @Option(names = "--restore", paramLabel = "ID", description = "Restore the version in this shadow copy.")
    String restore;

    @Option(names = "--to", paramLabel = "DEST", description = "Where to restore (a new path, or a directory to "
            + "restore into).")
    Path to;

    @Option(names = "--overwrite", description = "Replace an existing DEST (or the original, with --to PATH).")
    boolean overwrite;

    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    int run(ApiClient c) throws Exception {
        ObjectNode b = Json.object().put("path", path.toAbsolutePath().normalize().toString());
        if (restore == null) {
            if (to != null || overwrite) {
                throw new IllegalArgumentException("--to and --overwrite go with --restore ID");
            }
            JsonNode r = c.post("/v1/versions", b);
            if (json) {
                Format.json(System.out, r);
                return 0;
            }
            Table t = new Table("SHADOW COPY ID", "COPY TIME", "TYPE", "SIZE", "MODIFIED", "MODE", "OWNER", "SHA-256",
                    "COPIES", "");
            for (JsonNode v : r.path("versions")) {
                t.row(v.path("shadow").asText(), Format.time(v.get("created")), v.path("type").asText(),
                        Sizes.format(v.path("size").asLong()), Format.time(v.get("mtime")), v.path("mode").asText(),
                        v.path("uid").asInt() + ":" + v.path("gid").asInt(), v.path("sha256").asText().substring(0, 16),
                        v.path("copies").size(), v.path("current").asBoolean() ? "(current)" : "");
            }
            if (t.size() == 0) {
                System.out.println("No previous versions of " + r.path("path").asText() + " in the shadow copies of "
                        + "volume " + r.path("volume").asText() + ".");
            } else {
                t.print(System.out);
            }
            for (JsonNode x : r.path("skipped")) {
                System.err.println("shadowcopy: shadow copy " + x.path("shadow").asText() + " (" + Format.time(
                        x.get("created")) + ") could not be read: " + x.path("reason").asText());
            }
            return 0;
        }
        b.put("shadow", restore).put("overwrite", overwrite);
        if (to != null) {
            b.put("to", to.toAbsolutePath().normalize().toString());
        }
        JsonNode r = c.post("/v1/versions/restore", b);
        if (json) {
            Format.json(System.out, r);
        } else {
            System.out.println("Restored " + r.path("path").asText() + " from shadow copy " + r.path("shadow").asText()
                    + " to " + r.path("to").asText() + (r.path("replaced").asBoolean() ? " (replaced)" : ""));
        }
        return 0;
    }
}
