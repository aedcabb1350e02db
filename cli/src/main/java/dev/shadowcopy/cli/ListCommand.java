package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.client.ApiClient;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "list", mixinStandardHelpOptions = true, description = "Lists shadow copies, writers, providers, "
        + "shadow storage or volumes (vssadmin list …).",
        subcommands = {ListCommand.Shadows.class, ListCommand.Writers.class, ListCommand.Providers.class,
            ListCommand.ShadowStorage.class, ListCommand.Volumes.class, ListCommand.Sessions.class})
final class ListCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    abstract static class Lister extends ApiCommand {
        @Option(names = "--json", description = "Print JSON instead of a table.")
        boolean json;

        abstract String path();

        abstract String field();

        abstract Table table(JsonNode items);

        /** Lines printed after the table (what a column cannot hold). */
        List<String> notes(JsonNode items) {
            return List.of();
        }

        @Override
        int run(ApiClient c) throws Exception {
            JsonNode n = c.get(path());
            if (json) {
                Format.json(System.out, n);
            } else {
                Table t = table(n.path(field()));
                if (t.size() == 0) {
                    System.out.println("No items found that satisfy the query.");
                } else {
                    t.print(System.out);
                    notes(n.path(field())).forEach(System.out::println);
                }
            }
            return 0;
        }
    }

    @Command(name = "shadows", mixinStandardHelpOptions = true, description = "Shadow copies (oldest first).")
    static final class Shadows extends Lister {
        @Option(names = "--for", paramLabel = "VOLUME", description = "Only copies of this volume.")
        String volume;

        @Option(names = "--set", paramLabel = "SET_ID", description = "Only copies of this set.")
        String set;

        @Override
        String path() {
            StringBuilder p = new StringBuilder("/v1/shadows");
            String sep = "?";
            if (volume != null) {
                p.append(sep).append("volume=").append(URLEncoder.encode(volume, StandardCharsets.UTF_8));
                sep = "&";
            }
            if (set != null) {
                p.append(sep).append("set=").append(URLEncoder.encode(set, StandardCharsets.UTF_8));
            }
            return p.toString();
        }

        @Override
        String field() {
            return "shadows";
        }

        @Override
        Table table(JsonNode items) {
            Table t = new Table("SHADOW COPY ID", "SET ID", "VOLUME", "CREATED", "CONTEXT", "CONSISTENCY", "PROTECTED UNTIL",
                    "EXPOSED", "STATE", "SCHEDULE");
            for (JsonNode s : items) {
                t.row(Format.text(s.get("id")), Format.text(s.get("set_id")), Format.text(s.get("volume")),
                        Format.time(s.get("created")), Format.text(s.get("context")), Format.text(s.get("consistency")),
                        Format.time(s.get("protect_until")), Format.text(s.get("exposed_path")), Format.text(s.get("state")),
                        Format.text(s.get("schedule")));
            }
            return t;
        }
    }

    @Command(name = "writers", mixinStandardHelpOptions = true, description = "Writers and their last state.")
    static final class Writers extends Lister {
        @Override
        String path() {
            return "/v1/writers";
        }

        @Override
        String field() {
            return "writers";
        }

        @Override
        Table table(JsonNode items) {
            Table t = new Table("WRITER NAME", "KIND", "PRESENT", "STATE", "LAST ERROR", "LAST SEEN");
            for (JsonNode w : items) {
                t.row(Format.text(w.get("name")), Format.text(w.get("kind")), w.path("present").asBoolean() ? "yes" : "no",
                        Format.text(w.get("state")), Format.text(w.get("last_error")), Format.time(w.get("last_seen")));
            }
            return t;
        }
    }

    @Command(name = "providers", mixinStandardHelpOptions = true, description = "Shadow copy providers.")
    static final class Providers extends Lister {
        @Override
        String path() {
            return "/v1/providers";
        }

        @Override
        String field() {
            return "providers";
        }

        @Override
        Table table(JsonNode items) {
            Table t = new Table("PROVIDER NAME", "TYPE", "PROVIDER ID", "VERSION", "LAYOUTS", "VOLUMES", "DESCRIPTION");
            for (JsonNode p : items) {
                t.row(Format.text(p.get("name")), Format.text(p.get("type")), Format.text(p.get("id")),
                        Format.text(p.get("version")), join(p.get("layouts")), join(p.get("volumes")),
                        Format.text(p.get("description")));
            }
            return t;
        }
    }

    static String join(JsonNode a) {
        java.util.List<String> out = new java.util.ArrayList<>();
        if (a != null) {
            a.forEach(x -> out.add(x.asText()));
        }
        return out.isEmpty() ? "-" : String.join(",", out);
    }

    @Command(name = "shadowstorage", mixinStandardHelpOptions = true, description = "Shadow storage per volume.")
    static final class ShadowStorage extends Lister {
        @Override
        String path() {
            return "/v1/shadowstorage";
        }

        @Override
        String field() {
            return "shadowstorage";
        }

        @Override
        Table table(JsonNode items) {
            Table t = new Table("VOLUME", "USED", "ALLOCATED", "MAXIMUM", "LOCATION");
            for (JsonNode s : items) {
                long max = s.path("maximum").asLong(-1);
                t.row(Format.text(s.get("volume")), Format.size(s.get("used")), Format.size(s.get("allocated")),
                        max < 0 || max == Long.MAX_VALUE ? "UNBOUNDED" : Format.size(s.get("maximum")) + " ("
                                + Format.text(s.get("limit")) + ")", Format.text(s.get("location")));
            }
            return t;
        }
    }

    @Command(name = "volumes", mixinStandardHelpOptions = true, description = "Managed volumes.")
    static final class Volumes extends Lister {
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
        List<String> notes(JsonNode items) {
            return VolumeCommand.notes(items);
        }
    }

    @Command(name = "sessions", mixinStandardHelpOptions = true, description = "Open backup sessions.")
    static final class Sessions extends Lister {
        @Override
        String path() {
            return "/v1/sessions";
        }

        @Override
        String field() {
            return "sessions";
        }

        @Override
        Table table(JsonNode items) {
            Table t = new Table("SESSION ID", "CONTEXT", "STATE", "OWNER", "CREATED", "SET ID");
            for (JsonNode s : items) {
                t.row(Format.text(s.get("id")), Format.text(s.get("context")), Format.text(s.get("state")),
                        Format.text(s.get("owner")), Format.time(s.get("created")), Format.text(s.get("set_id")));
            }
            return t;
        }
    }
}
