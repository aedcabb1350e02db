package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.service.client.ApiClient;
import dev.shadowcopy.service.json.Json;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code schedule add|list|remove|run}: shadow copies (or backups) on a calendar, with retention. */
@Command(name = "schedule", mixinStandardHelpOptions = true, description = "Scheduled shadow copies or backups with "
        + "retention (systemd calendar syntax; snapper's and restic's keep rules).", subcommands = {
            ScheduleCommand.Add.class, ScheduleCommand.ListCmd.class, ScheduleCommand.Remove.class,
            ScheduleCommand.Run.class})
final class ScheduleCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    static String path(String name) {
        return "/v1/schedules/" + URLEncoder.encode(name, StandardCharsets.UTF_8);
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = {
        "Adds a schedule. Each run makes one shadow copy set of the volumes (persistent, client-accessible, with "
            + "writers), or with --backup one image backup into --repo; then deletes the schedule's own copies that "
            + "no keep rule keeps (never protected ones). At the 64-copy limit the schedule rotates out its own oldest.",
        "Examples: --calendar 'Mon..Fri 07,12:00' --keep daily=7,weekly=4;  --calendar '*:0/15' --keep 10"})
    static final class Add extends ApiCommand {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--for", required = true, split = ",", paramLabel = "VOL[,VOL…]", description = "Volumes.")
        List<String> volumes;

        @Option(names = "--calendar", required = true, paramLabel = "SPEC", description = "systemd calendar event: "
                + "hourly, daily, 'Mon..Fri 07,12:00', '*:0/15', '*:*:0/2' (systemd.time(7)).")
        String calendar;

        @Option(names = "--keep", required = true, paramLabel = "RULES", description = "N (the last N), or "
                + "hourly=24,daily=7,weekly=4,monthly=12,yearly=2 (and last=N).")
        String keep;

        @Option(names = "--backup", description = "Each run is an image backup into --repo (retention prunes this "
                + "schedule's backup points).")
        boolean backup;

        @Option(names = "--repo", paramLabel = "DIR|s3://BUCKET/PREFIX", description = "Repository of --backup "
                + "(unencrypted): a directory, or S3 with the daemon's AWS configuration.")
        String repo;

        @Option(names = "--verify", description = "With --backup: prove each backup restorable (backups verify "
                + "--deep: file systems checked, databases started) before retention runs; a backup that fails it "
                + "fails the run and nothing is pruned.")
        boolean verify;

        @Option(names = "--json", description = "Print the schedule as JSON.")
        boolean json;

        @Override
        int run(ApiClient c) throws Exception {
            if (backup != (repo != null)) {
                throw new IllegalArgumentException("--backup and --repo DIR go together");
            }
            if (verify && !backup) {
                throw new IllegalArgumentException("--verify proves backups restorable: it goes with --backup --repo");
            }
            ObjectNode b = Json.object().put("name", name).put("calendar", calendar).put("keep", keep);
            volumes.forEach(b.putArray("volumes")::add);
            if (repo != null) {
                b.put("repository", RepositoryLocation.parse(repo).toString());
            }
            b.put("verify", verify);
            JsonNode r = c.post("/v1/schedules", b);
            if (json) {
                Format.json(System.out, r);
            } else {
                System.out.println("Schedule " + r.path("name").asText() + " added: " + (backup ? verify
                        ? "verified backup" : "backup" : "copies")
                        + " of " + String.join(",", volumes) + " at '" + r.path("calendar").asText() + "', keep "
                        + r.path("keep").asText() + "; next run " + Format.time(r.get("next_run")));
            }
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Schedules, their next run, last result "
            + "and copies.")
    static final class ListCmd extends ApiCommand {
        @Option(names = "--json", description = "Print JSON.")
        boolean json;

        @Override
        int run(ApiClient c) throws Exception {
            JsonNode r = c.get("/v1/schedules");
            if (json) {
                Format.json(System.out, r);
                return 0;
            }
            Table t = new Table("NAME", "VOLUMES", "CALENDAR", "KEEP", "KIND", "NEXT RUN", "LAST RUN", "RESULT", "COPIES");
            for (JsonNode s : r.path("schedules")) {
                List<String> vols = new java.util.ArrayList<>();
                s.path("volumes").forEach(v -> vols.add(v.asText()));
                t.row(s.path("name").asText(), String.join(",", vols), s.path("calendar").asText(),
                        s.path("keep").asText(), s.path("repository").isNull() ? "copies" : (s.path("verify").asBoolean()
                        ? "verified backup " : "backup ") + s.path("repository").asText(), Format.time(s.get("next_run")), Format.time(s.get("last_run")),
                        s.path("last_result").isNull() ? "-" : s.path("last_result").asText()
                        + (s.path("last_error").isNull() ? "" : ": " + s.path("last_error").asText()),
                        s.path("copies").size());
            }
            t.print(System.out);
            return 0;
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Removes a schedule (after a run in "
            + "progress); its copies stay.")
    static final class Remove extends ApiCommand {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Override
        int run(ApiClient c) throws Exception {
            c.delete(path(name));
            System.out.println("Schedule " + name + " removed; its shadow copies stay.");
            return 0;
        }
    }

    @Command(name = "run", mixinStandardHelpOptions = true, description = "Runs a schedule now (its calendar is not "
            + "moved).")
    static final class Run extends ApiCommand {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--json", description = "Print the result as JSON.")
        boolean json;

        @Override
        int run(ApiClient c) throws Exception {
            JsonNode r = c.post(path(name) + "/run", Json.object());
            if (json) {
                Format.json(System.out, r);
            } else if (r.path("ok").asBoolean()) {
                System.out.println("Schedule " + name + ": " + (r.path("backup").isNull() ? "set " + r.path("set")
                        .asText() + " (" + r.path("copies").size() + " copies)" : "backup " + r.path("backup").asText())
                        + (r.path("rotated").isEmpty() ? "" : "; rotated out " + r.path("rotated"))
                        + (r.path("deleted").isEmpty() ? "" : "; retention deleted " + r.path("deleted")));
            } else {
                System.err.println("shadowcopy: schedule " + name + " failed: " + r.path("error").asText());
            }
            return r.path("ok").asBoolean() ? 0 : 1;
        }
    }
}
