package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.client.ApiClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code shadowcopy script FILE}: runs a diskshadow script. The whole script is checked first; then it runs
 * line by line on one API connection, which holds the backup session: non-persistent copies are released
 * when the script ends, or when this process dies.
 */
@Command(name = "script", mixinStandardHelpOptions = true,
        description = "Runs a diskshadow-style script (set context, add volume … alias, create, begin/end backup, "
                + "writer verify|exclude, list, delete shadows, expose, exec, exit).")
final class ScriptCommand implements Callable<Integer> {
    @Mixin
    StateOption state;

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    private final Map<String, String> aliases = new LinkedHashMap<>();
    private final List<String[]> volumes = new ArrayList<>(); // {volume, alias or null}
    private final Set<String> exclude = new LinkedHashSet<>();
    private final Set<String> verify = new LinkedHashSet<>();
    private String context = "volatile";
    private boolean verbose;
    private String session;
    private boolean backup;
    private ApiClient api;
    private String name;

    @Override
    public Integer call() throws Exception {
        name = file.toString();
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("no script file " + file);
        }
        List<DiskshadowScript.Line> lines = DiskshadowScript.parse(name, Files.readAllLines(file));
        try (ApiClient c = state.connect()) {
            api = c;
            for (DiskshadowScript.Line l : lines) {
                if (verbose) {
                    System.out.println("-> " + l.text());
                }
                try {
                    if (!run(l)) {
                        break;
                    }
                } catch (DiskshadowScript.ScriptException e) {
                    throw e;
                } catch (Exception e) {
                    throw new DiskshadowScript.ScriptException(name, l.number(), e.getMessage());
                }
            }
            finish();
        }
        return 0;
    }

    private boolean run(DiskshadowScript.Line l) throws Exception {
        List<String> w = new ArrayList<>();
        for (String x : l.words()) {
            w.add(DiskshadowScript.substitute(name, l, x, aliases));
        }
        switch (l.lower(0)) {
            case "set" -> {
                switch (l.lower(1)) {
                    case "context" -> {
                        requireNoSession(l, "set context");
                        context = String.join(" ", w.subList(2, w.size())).toLowerCase(Locale.ROOT);
                    }
                    case "option" -> {
                        for (String o : w.subList(2, w.size())) {
                            switch (o.toLowerCase(Locale.ROOT)) {
                                case "differential", "transportable", "noautorecover", "rollbackrecover", "txfrecover" -> { }
                                case "plex" -> throw new DiskshadowScript.ScriptException(name, l.number(),
                                        "option plex (split mirror) is not available from the software provider");
                                default -> throw new DiskshadowScript.ScriptException(name, l.number(),
                                        "unknown option '" + o + "'");
                            }
                        }
                    }
                    case "verbose" -> verbose = l.lower(2).equals("on");
                    case "metadata" -> System.out.println("note: writer metadata is kept by the service; 'set metadata' "
                            + "is accepted and ignored");
                    default -> { }
                }
            }
            case "add" -> {
                requireNoSet(l);
                String alias = w.size() == 5 ? w.get(4) : null;
                volumes.add(new String[] {w.get(2), alias});
            }
            case "writer" -> {
                requireNoSession(l, "writer " + l.lower(1));
                (l.lower(1).equals("verify") ? verify : exclude).add(w.get(2));
            }
            case "begin" -> {
                requireNoSession(l, "begin backup");
                openSession();
                backup = true;
            }
            case "end" -> {
                if (!backup || session == null) {
                    throw new DiskshadowScript.ScriptException(name, l.number(), "end backup without begin backup");
                }
                if (aliases.containsKey("VSS_SHADOW_SET")) {
                    api.post("/v1/sessions/" + session + "/backup-complete", null);
                }
                api.delete("/v1/sessions/" + session);
                session = null;
                backup = false;
            }
            case "create" -> create(l);
            case "list" -> list(l, w);
            case "delete" -> {
                ObjectNode b = Json.object();
                switch (l.lower(2)) {
                    case "all" -> b.put("all", true);
                    case "set" -> b.put("set", ShadowCommands.strip(w.get(3)));
                    case "id" -> b.put("shadow", ShadowCommands.strip(w.get(3)));
                    case "volume" -> b.put("volume", w.get(3));
                    case "oldest" -> b.put("volume", w.get(3)).put("oldest", true);
                    default -> { }
                }
                JsonNode r = api.post("/v1/shadows/delete", b);
                System.out.println("Deleted " + r.path("deleted").size() + " shadow copies.");
                if (r.path("refused").size() > 0) {
                    throw new DiskshadowScript.ScriptException(name, l.number(), "refused to delete "
                            + r.path("refused").size() + " protected shadow copies");
                }
            }
            case "expose" -> {
                JsonNode r = api.post("/v1/shadows/" + VolumeCommand.enc(ShadowCommands.strip(w.get(1))) + "/expose",
                        Json.object().put("mount", Path.of(w.get(2)).toAbsolutePath().toString()));
                System.out.println("The shadow copy was successfully exposed as " + r.path("exposed_path").asText() + ".");
            }
            case "unexpose" -> {
                api.post("/v1/shadows/" + VolumeCommand.enc(ShadowCommands.strip(w.get(1))) + "/unexpose", null);
                System.out.println("The shadow copy was unexposed.");
            }
            case "exec" -> {
                List<String> cmd = new ArrayList<>(w.subList(1, w.size()));
                Process p = new ProcessBuilder(cmd).inheritIO().start();
                int rc = p.waitFor();
                if (rc != 0) {
                    throw new DiskshadowScript.ScriptException(name, l.number(), "exec " + w.get(1) + " exited with " + rc);
                }
            }
            case "reset" -> {
                if (session != null) {
                    api.delete("/v1/sessions/" + session);
                }
                session = null;
                backup = false;
                volumes.clear();
                aliases.clear();
                exclude.clear();
                verify.clear();
            }
            case "exit", "quit" -> {
                return false;
            }
            default -> throw new DiskshadowScript.ScriptException(name, l.number(), "unknown command " + l.word(0));
        }
        return true;
    }

    private void openSession() throws Exception {
        String ctx = context.equals("clientaccessible") ? "client-accessible" : context;
        ObjectNode b = Json.object().put("context", ctx);
        exclude.forEach(b.putArray("exclude_writers")::add);
        verify.forEach(b.putArray("verify_writers")::add);
        session = api.post("/v1/sessions", b).path("id").asText();
    }

    private void create(DiskshadowScript.Line l) throws Exception {
        if (volumes.isEmpty()) {
            throw new DiskshadowScript.ScriptException(name, l.number(), "create without any 'add volume'");
        }
        requireNoSet(l);
        if (session == null) {
            openSession();
        }
        ObjectNode b = Json.object();
        volumes.forEach(v -> b.withArray("volumes").add(v[0]));
        JsonNode r = ShadowCommands.createWithRetry(api, "/v1/sessions/" + session + "/snapshot-set", b, 0);
        String set = r.path("set_id").asText();
        aliases.put("VSS_SHADOW_SET", set);
        int i = 1;
        for (JsonNode s : r.path("shadows")) {
            aliases.put("VSS_SHADOW_" + i++, s.path("id").asText());
            for (String[] v : volumes) {
                if (v[0].equals(s.path("volume").asText()) && v[1] != null) {
                    aliases.put(v[1].toUpperCase(Locale.ROOT), s.path("id").asText());
                }
            }
        }
        System.out.println("Shadow copy set {" + set + "} created:");
        for (JsonNode s : r.path("shadows")) {
            System.out.println("  {" + s.path("id").asText() + "}  " + s.path("volume").asText());
        }
    }

    private void list(DiskshadowScript.Line l, List<String> w) throws Exception {
        switch (l.lower(1)) {
            case "shadows" -> {
                String path = "/v1/shadows";
                if (l.lower(2).equals("set") && w.size() > 3) {
                    path += "?set=" + VolumeCommand.enc(ShadowCommands.strip(w.get(3)));
                }
                JsonNode r = api.get(path);
                ListCommand.Shadows s = new ListCommand.Shadows();
                Table t = s.table(r.path("shadows"));
                if (l.lower(2).equals("id") && w.size() > 3) {
                    t = new ListCommand.Shadows().table(Json.MAPPER.createArrayNode().add(
                            api.get("/v1/shadows/" + VolumeCommand.enc(ShadowCommands.strip(w.get(3))))));
                }
                t.print(System.out);
            }
            case "writers" -> new ListCommand.Writers().table(api.get("/v1/writers").path("writers")).print(System.out);
            default -> VolumeCommand.table(api.get("/v1/volumes").path("volumes")).print(System.out);
        }
    }

    private void requireNoSession(DiskshadowScript.Line l, String what) throws DiskshadowScript.ScriptException {
        if (session != null) {
            throw new DiskshadowScript.ScriptException(name, l.number(), what + " must come before begin backup/create");
        }
    }

    private void requireNoSet(DiskshadowScript.Line l) throws DiskshadowScript.ScriptException {
        if (aliases.containsKey("VSS_SHADOW_SET") && session != null) {
            throw new DiskshadowScript.ScriptException(name, l.number(), "this session already created its set; "
                    + "use reset to start another");
        }
    }

    /** At the end: a session still open is released (persistent copies stay, volatile ones go). */
    private void finish() throws Exception {
        if (session != null) {
            api.delete("/v1/sessions/" + session);
        }
    }
}
