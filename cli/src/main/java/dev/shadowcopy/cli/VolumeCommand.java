package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.client.ApiClient;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "volume", mixinStandardHelpOptions = true, description = "Creates, deletes, lists, attaches and "
        + "detaches managed volumes.",
        subcommands = {VolumeCommand.Create.class, VolumeCommand.Delete.class, VolumeCommand.ListVolumes.class,
            VolumeCommand.Attach.class, VolumeCommand.Detach.class})
final class VolumeCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    static Table table(JsonNode items) {
        Table t = new Table("VOLUME", "SIZE", "CHUNK", "LAYOUT", "STATE", "COPIES", "DEVICE", "VIA", "BACKING");
        for (JsonNode v : items) {
            t.row(Format.text(v.get("name")), Format.size(v.get("size")), Format.size(v.get("chunk_size")),
                    Format.text(v.get("layout")), v.hasNonNull("state") ? v.get("state").asText() : "ready",
                    v.path("shadow_copies").asInt() + "/" + v.path("max_shadow_copies").asInt(),
                    Format.text(v.get("device")), Format.text(v.get("attach_path")), Format.text(v.get("backing")));
        }
        return t;
    }

    /** Why each incomplete volume is so, and what to do. */
    static java.util.List<String> notes(JsonNode items) {
        java.util.List<String> out = new java.util.ArrayList<>();
        for (JsonNode v : items) {
            if (v.hasNonNull("incomplete")) {
                out.add("volume " + v.path("name").asText() + " is incomplete: " + v.get("incomplete").asText());
            }
        }
        return out;
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Creates a volume on a new sparse file, "
            + "or on an existing file or block device (--backing).")
    static final class Create extends ApiCommand {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--size", paramLabel = "SIZE", description = "Size, e.g. 10G (required without --backing).")
        String size;

        @Option(names = "--backing", paramLabel = "PATH", description = "Existing file or block device to use in place.")
        Path backing;

        @Option(names = "--btrfs-subvolume", paramLabel = "PATH", description = "Register a btrfs subvolume as a "
                + "volume instead: its shadow copies are read-only btrfs snapshots (provider shadowcopy-btrfs).")
        Path btrfs;

        @Option(names = "--chunk-size", paramLabel = "SIZE", description = "Copy-on-write chunk (default 64K).")
        String chunk;

        @Option(names = "--maxsize", paramLabel = "SIZE|N%|unbounded", description = "Shadow storage maximum.")
        String maxsize;

        @Option(names = "--max-shadow-copies", paramLabel = "N", description = "At most N copies (default 512).")
        Integer maxCopies;

        @Option(names = "--layout", paramLabel = "cow|row|mirror|reflink", description = "Copy-on-write (default), "
                + "redirect-on-write, split mirror (full copies), or reflink (copies are FICLONE clones of a --backing "
                + "file on XFS/btrfs). docs/providers.md says when to pick which.")
        String layout;

        @Override
        int run(ApiClient c) throws Exception {
            ObjectNode b = Json.object().put("name", name);
            if (btrfs != null) {
                b.put("btrfs_subvolume", btrfs.toAbsolutePath().toString());
                JsonNode v = c.post("/v1/volumes", b);
                System.out.println("Registered volume " + v.path("name").asText() + " (" + v.path("backing").asText()
                        + ")");
                return 0;
            }
            if (size != null) {
                b.put("size", size);
            }
            if (backing != null) {
                b.put("backing", backing.toAbsolutePath().toString());
            }
            if (chunk != null) {
                b.put("chunk_size", chunk);
            }
            if (maxsize != null) {
                b.put("shadow_storage", maxsize);
            }
            if (maxCopies != null) {
                b.put("max_shadow_copies", maxCopies);
            }
            if (layout != null) {
                b.put("layout", layout);
            }
            JsonNode v = c.post("/v1/volumes", b);
            System.out.println("Created volume " + v.path("name").asText() + " (" + Format.size(v.get("size")) + ")");
            return 0;
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true, description = "Deletes a volume and its shadow copies "
            + "(refused while any of them is protected, or while its device is mounted or open; an attached but "
            + "unused device is detached first).")
    static final class Delete extends ApiCommand {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--force", description = "Also when it has shadow copies. (A device in use is never taken "
                + "away by delete: unmount it, or `volume detach NAME --force` first.)")
        boolean force;

        @Override
        int run(ApiClient c) throws Exception {
            c.delete("/v1/volumes/" + enc(name) + (force ? "?force=1" : ""));
            System.out.println("Deleted volume " + name);
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists volumes.")
    static final class ListVolumes extends ListCommand.Lister {
        @Override
        String path() {
            return "/v1/volumes";
        }

        @Override
        String field() {
            return "volumes";
        }

        @Override
        Table table(JsonNode items) {
            return VolumeCommand.table(items);
        }

        @Override
        java.util.List<String> notes(JsonNode items) {
            return VolumeCommand.notes(items);
        }
    }

    @Command(name = "attach", mixinStandardHelpOptions = true, description = "Makes the volume a local block device "
            + "(a loop device over the service's own FUSE server) and prints it. It stays attached while the service "
            + "restarts or is killed (I/O pauses and resumes) and is attached again after a reboot.")
    static final class Attach extends ApiCommand {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--read-only", description = "Attach read-only.")
        boolean readOnly;

        @Override
        int run(ApiClient c) throws Exception {
            JsonNode a = c.post("/v1/volumes/" + enc(name) + "/attach", Json.object().put("read_only", readOnly));
            System.out.println(a.path("device").asText());
            return 0;
        }
    }

    @Command(name = "detach", mixinStandardHelpOptions = true, description = "Removes the volume's block device "
            + "(refused while a file system is mounted from it or a process holds it open).")
    static final class Detach extends ApiCommand {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--force", description = "Also while it is in use: every I/O on it fails from now on (a mounted "
                + "file system reports errors and loses what it had not written).")
        boolean force;

        @Override
        int run(ApiClient c) throws Exception {
            c.post("/v1/volumes/" + enc(name) + "/detach", Json.object().put("force", force));
            System.out.println("Detached volume " + name);
            return 0;
        }
    }
}
