package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.client.ApiClient;
import dev.shadowcopy.service.json.Json;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Windows' Previous Versions over Samba: the smb.conf section of a volume's share, its snapshot directory kept. */
@Command(name = "samba-share", mixinStandardHelpOptions = true, description = {
    "Shares VOL's shadow copies as Windows' Previous Versions: prints the smb.conf section for the volume's mount "
        + "point (vfs_shadow_copy2), and from now on the service keeps the snapshot directory current: one read-only "
        + "mount per shadow copy, named @GMT-YYYY.MM.DD-HH.MM.SS (UTC), appearing and disappearing with the copies.",
    "Add the section to smb.conf and reload smbd. --remove stops keeping the directory."})
final class SambaShareCommand extends ApiCommand {
    @Parameters(index = "0", paramLabel = "VOL")
    String volume;

    @Option(names = "--name", paramLabel = "SHARE", description = "The share's name.")
    String name;

    @Option(names = "--snapdir", paramLabel = "DIR", description = "Snapshot directory (default: "
            + "/run/shadowcopy/previous/VOL); outside the state directory, so that smbd's users can reach it.")
    Path snapdir;

    @Option(names = "--remove", description = "Stop sharing VOL's copies.")
    boolean remove;

    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    int run(ApiClient c) throws Exception {
        if (remove) {
            JsonNode r = c.delete("/v1/shares/" + URLEncoder.encode(volume, StandardCharsets.UTF_8));
            System.out.println("Volume " + volume + " is no longer shared; remove its section from smb.conf ("
                    + r.path("snapdir").asText() + " is no longer kept)");
            return 0;
        }
        if (name == null) {
            throw new IllegalArgumentException("give the share's name: --name SHARE");
        }
        ObjectNode b = Json.object().put("volume", volume).put("name", name);
        if (snapdir != null) {
            b.put("snapdir", snapdir.toAbsolutePath().normalize().toString());
        }
        JsonNode r = c.post("/v1/shares", b);
        if (json) {
            Format.json(System.out, r);
        } else {
            System.out.print(r.path("smb_conf").asText());
        }
        return 0;
    }
}
