package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.client.ApiClient;
import dev.shadowcopy.service.client.ApiException;
import dev.shadowcopy.service.sequence.Context;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** vssadmin's verbs on shadow copies: create, delete, resize, revert, plus protect, expose, unexpose. */
final class ShadowCommands {
    private ShadowCommands() {}

    /** The request body of a set creation; shared by {@code create shadow} and scripts. */
    static ObjectNode setRequest(List<String> volumes, String context, boolean nowriters, String protectUntil) {
        ObjectNode b = Json.object();
        volumes.forEach(b.putArray("volumes")::add);
        String ctx = context == null ? (nowriters ? "client-accessible" : "client-accessible-writers") : context;
        if (nowriters && context != null && !ctx.contains("nowriters")) {
            ctx = switch (ctx.toLowerCase()) {
                case "backup", "nopersistent", "volatile" -> "file-share-backup";
                case "app-rollback", "persistent" -> "nas-rollback";
                case "client-accessible-writers" -> "client-accessible";
                default -> ctx;
            };
        }
        b.put("context", ctx);
        if (protectUntil != null) {
            b.put("protect_until", protectUntil);
        }
        return b;
    }

    /** Retries a creation that met another one in progress, for up to {@code minutes} (vssadmin /autoretry). */
    static JsonNode createWithRetry(ApiClient c, String path, ObjectNode body, int minutes) throws Exception {
        Instant giveUp = Instant.now().plus(Duration.ofMinutes(minutes));
        long backoff = 200;
        while (true) {
            try {
                return c.post(path, body);
            } catch (ApiException e) {
                if (!e.code().equals("VSS_E_SNAPSHOT_SET_IN_PROGRESS") || Instant.now().isAfter(giveUp)) {
                    throw e;
                }
                Thread.sleep(backoff); // back off before asking again; bounded by --autoretry
                backoff = Math.min(backoff * 2, 5000);
            }
        }
    }

    static void printSet(JsonNode r) {
        for (JsonNode s : r.path("shadows")) {
            System.out.println("Successfully created shadow copy for '" + s.path("volume").asText() + "'");
            System.out.println("    Shadow Copy ID: {" + s.path("id").asText() + "}");
            System.out.println("    Shadow Copy Set ID: {" + s.path("set_id").asText() + "}");
            System.out.println("    NBD export: " + s.path("nbd_export").asText());
        }
        JsonNode first = r.path("shadows").path(0);
        System.out.println("    Consistency: " + first.path("consistency").asText() + ", context "
                + first.path("context").asText());
        for (JsonNode w : r.path("writers")) {
            System.out.println("    Writer '" + w.path("name").asText() + "': " + w.path("state_label").asText()
                    + (w.path("last_error").asText().equals("NONE") ? "" : ", last error " + w.path("last_error_label").asText()));
        }
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Creates shadow copies.",
            subcommands = Create.Shadow.class)
    static final class Create implements Runnable {
        @Override
        public void run() {
            CommandLine.usage(this, System.out);
        }

        @Command(name = "shadow", mixinStandardHelpOptions = true, description = "Creates a shadow copy set of one or "
                + "more volumes (one instant). Default: persistent, client-accessible, with writers.")
        static final class Shadow extends ApiCommand {
            @Option(names = "--for", required = true, split = ",", paramLabel = "VOL[,VOL…]", description = "Volumes.")
            List<String> volumes;

            @Option(names = "--context", paramLabel = "CONTEXT", description = "backup, file-share-backup, nas-rollback, "
                    + "app-rollback, client-accessible, client-accessible-writers, persistent, nopersistent.")
            String context;

            @Option(names = "--provider", paramLabel = "NAME", description = "Provider that must serve every volume "
                    + "(default: the one of each volume's layout; see list providers).")
            String provider;

            @Option(names = "--nowriters", description = "Do not involve writers (crash-consistent).")
            boolean nowriters;

            @Option(names = "--protect-until", paramLabel = "DATE", description = "Refuse deletion before DATE "
                    + "(2026-12-31 or 2026-12-31T00:00:00Z).")
            String protectUntil;

            @Option(names = "--autoretry", paramLabel = "MINUTES", defaultValue = "0",
                    description = "Retry for up to MINUTES while another creation is in progress.")
            int autoretry;

            @Option(names = "--json", description = "Print the result as JSON.")
            boolean json;

            @Override
            int run(ApiClient c) throws Exception {
                ObjectNode b = setRequest(volumes, context, nowriters, protectUntil);
                String ctx = b.path("context").asText();
                if (!Context.parse(ctx).persistent()) {
                    // its copies would be released as this command exits: "Successfully created" would be a lie
                    throw new IllegalArgumentException("context " + ctx + " makes auto-release copies, which live only "
                            + "as long as the requester that made them; this command exits at once, so they would be "
                            + "gone before you could use them. Use a persistent context (client-accessible, "
                            + "app-rollback, nas-rollback), or hold auto-release copies in a session with "
                            + "'shadowcopy script' (set context volatile, begin backup, create, ...)");
                }
                if (provider != null) {
                    b.put("provider", provider);
                }
                JsonNode r = createWithRetry(c, "/v1/sets", b, autoretry);
                if (json) {
                    Format.json(System.out, r);
                } else {
                    printSet(r);
                }
                return 0;
            }
        }
    }

    static final class Selection {
        @Option(names = "--shadow", paramLabel = "ID", description = "One shadow copy.")
        String shadow;

        @Option(names = "--set", paramLabel = "SET_ID", description = "Every copy of a set.")
        String set;

        @Option(names = "--for", paramLabel = "VOLUME", description = "Every copy of a volume (or the oldest).")
        String volume;

        @Option(names = "--all", description = "Every shadow copy.")
        boolean all;
    }

    @Command(name = "delete", mixinStandardHelpOptions = true, description = "Deletes shadow copies.",
            subcommands = Delete.Shadows.class)
    static final class Delete implements Runnable {
        @Override
        public void run() {
            CommandLine.usage(this, System.out);
        }

        @Command(name = "shadows", mixinStandardHelpOptions = true, description = "Deletes shadow copies; protected "
                + "copies are never deleted (the attempt is refused and logged).")
        static final class Shadows extends ApiCommand {
            @ArgGroup(exclusive = true, multiplicity = "1")
            Selection sel;

            @Option(names = "--oldest", description = "With --for: only the oldest copy.")
            boolean oldest;

            @Option(names = "--quiet", description = "Do not print what was deleted.")
            boolean quiet;

            @Override
            int run(ApiClient c) throws Exception {
                if (oldest && sel.volume == null) {
                    throw new IllegalArgumentException("--oldest goes with --for VOLUME");
                }
                ObjectNode b = Json.object();
                b.put("shadow", sel.shadow).put("set", sel.set).put("volume", sel.volume).put("oldest", oldest)
                        .put("all", sel.all);
                JsonNode r = c.post("/v1/shadows/delete", b);
                int n = r.path("deleted").size();
                if (!quiet) {
                    for (JsonNode id : r.path("deleted")) {
                        System.out.println("Deleted shadow copy {" + id.asText() + "}");
                    }
                    System.out.println(n == 0 ? "No shadow copies were deleted." : "Deleted " + n + " shadow cop"
                            + (n == 1 ? "y." : "ies."));
                }
                if (r.path("refused").size() > 0) {
                    for (JsonNode x : r.path("refused")) {
                        System.err.println("shadowcopy: refused to delete protected shadow copy {" + x.path("id").asText()
                                + "} (protected until " + x.path("protect_until").asText() + ")");
                    }
                    return 1;
                }
                return 0;
            }
        }
    }

    @Command(name = "resize", mixinStandardHelpOptions = true, description = "Resizes shadow storage.",
            subcommands = Resize.ShadowStorage.class)
    static final class Resize implements Runnable {
        @Override
        public void run() {
            CommandLine.usage(this, System.out);
        }

        @Command(name = "shadowstorage", mixinStandardHelpOptions = true, description = "Sets the maximum size of a "
                + "volume's shadow storage (the oldest copies are released when it is full).")
        static final class ShadowStorage extends ApiCommand {
            @Option(names = "--for", required = true, paramLabel = "VOLUME")
            String volume;

            @Option(names = "--maxsize", required = true, paramLabel = "SIZE|N%|unbounded")
            String maxsize;

            @Override
            int run(ApiClient c) throws Exception {
                JsonNode r = c.put("/v1/shadowstorage/" + VolumeCommand.enc(volume), Json.object().put("maxsize", maxsize));
                System.out.println("Resized shadow storage of " + volume + " to " + r.path("limit").asText());
                return 0;
            }
        }
    }

    @Command(name = "revert", mixinStandardHelpOptions = true, description = "Reverts a volume to a shadow copy "
            + "(copies taken after it are deleted; refused if any of them is protected).")
    static final class Revert extends ApiCommand {
        @Option(names = "--shadow", required = true, paramLabel = "ID")
        String shadow;

        @Option(names = "--force", description = "Also while the volume's device is mounted or open: the data then "
                + "changes under the file system, which needs an fsck and may lose files.")
        boolean force;

        @Override
        int run(ApiClient c) throws Exception {
            c.post("/v1/shadows/" + VolumeCommand.enc(strip(shadow)) + "/revert", Json.object().put("force", force));
            System.out.println("Reverted to shadow copy {" + strip(shadow) + "}");
            return 0;
        }
    }

    @Command(name = "protect", mixinStandardHelpOptions = true, description = "Protects a shadow copy from deletion "
            + "until a date (can be extended, not shortened).")
    static final class Protect extends ApiCommand {
        @Option(names = "--shadow", required = true, paramLabel = "ID")
        String shadow;

        @Option(names = "--until", required = true, paramLabel = "DATE")
        String until;

        @Override
        int run(ApiClient c) throws Exception {
            JsonNode r = c.post("/v1/shadows/" + VolumeCommand.enc(strip(shadow)) + "/protect",
                    Json.object().put("until", until));
            System.out.println("Shadow copy {" + r.path("id").asText() + "} is protected until "
                    + r.path("protect_until").asText());
            return 0;
        }
    }

    @Command(name = "expose", mixinStandardHelpOptions = true, description = "Mounts a shadow copy's file system "
            + "read-only on a directory.")
    static final class Expose extends ApiCommand {
        @Parameters(index = "0", paramLabel = "ID")
        String shadow;

        @Option(names = "--mount", required = true, paramLabel = "DIR")
        Path mount;

        @Override
        int run(ApiClient c) throws Exception {
            JsonNode r = c.post("/v1/shadows/" + VolumeCommand.enc(strip(shadow)) + "/expose",
                    Json.object().put("mount", mount.toAbsolutePath().toString()));
            System.out.println("Shadow copy {" + r.path("id").asText() + "} is exposed on " + r.path("exposed_path").asText());
            return 0;
        }
    }

    @Command(name = "unexpose", mixinStandardHelpOptions = true, description = "Unmounts an exposed shadow copy.")
    static final class Unexpose extends ApiCommand {
        @Parameters(index = "0", paramLabel = "ID")
        String shadow;

        @Option(names = "--force", description = "Also while processes use the mount: it is detached lazily (they keep "
                + "what they have open until they let go).")
        boolean force;

        @Override
        int run(ApiClient c) throws Exception {
            c.post("/v1/shadows/" + VolumeCommand.enc(strip(shadow)) + "/unexpose", Json.object().put("force", force));
            System.out.println("Shadow copy {" + strip(shadow) + "} is no longer exposed");
            return 0;
        }
    }

    static String strip(String id) {
        String t = id.trim();
        return t.startsWith("{") && t.endsWith("}") ? t.substring(1, t.length() - 1) : t;
    }
}
