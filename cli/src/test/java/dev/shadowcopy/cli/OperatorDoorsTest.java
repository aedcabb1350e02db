package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * {@code --group}: a real operator (a test user in a test group, made with useradd and removed afterwards) runs
 * the real CLI, curl and nbdinfo against a daemon started by root. The operator works on what
 * {@code STATE/config.json} gives it and on nothing else: no volume on a root-only file, no repository or mount
 * point outside the configured roots (by {@code ..}, a symbolic link or a NUL byte), no other volume over NBD.
 */
@Tag("host")
class OperatorDoorsTest {
    static final String GROUP = "sc-doors-ops";
    static final String OPERATOR = "sc-doors-op";
    static final String OUTSIDER = "sc-doors-out";

    @TempDir
    static Path tmp;
    static DaemonProcess daemon;
    static Path repos;
    static Path mounts;
    static Path secret;
    static String classPath;

    @BeforeAll
    static void start() throws Exception {
        Host.requireRoot();
        Host.requireProgram("setpriv");
        Host.requireProgram("useradd");
        removeUsers();
        sh("groupadd " + GROUP + " && useradd -M -N -g nogroup -G " + GROUP + " -s /usr/sbin/nologin " + OPERATOR
                + " && useradd -M -N -g nogroup -s /usr/sbin/nologin " + OUTSIDER).ok();
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        classPath = copyClassPath(Files.createDirectories(tmp.resolve("cp")));
        repos = Files.createDirectories(tmp.resolve("repos"));
        mounts = Files.createDirectories(tmp.resolve("mnt"));
        secret = tmp.resolve("root-only.txt");
        Files.writeString(secret, "the root password is hunter2\n");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        Files.createSymbolicLink(repos.resolve("escape"), Path.of("/etc"));
        Path state = Files.createDirectories(tmp.resolve("state"));
        Files.writeString(state.resolve("config.json"), "{\"operators\": {\"volumes\": [\"data\"], \"repositories\": [\""
                + repos + "\"], \"mount_roots\": [\"" + mounts + "\"]}}\n");
        Files.setPosixFilePermissions(state.resolve("config.json"), PosixFilePermissions.fromString("rw-------"));
        daemon = new DaemonProcess(state, "--group", GROUP).start();
        daemon.cli("volume", "create", "data", "--size", "8M").ok();
        daemon.cli("volume", "create", "secret", "--size", "8M").ok();
    }

    @AfterAll
    static void stop() throws Exception {
        if (daemon != null) {
            daemon.close();
        }
        removeUsers();
    }

    static void removeUsers() throws Exception {
        sh("userdel " + OPERATOR + " 2>/dev/null; userdel " + OUTSIDER + " 2>/dev/null; groupdel " + GROUP
                + " 2>/dev/null; true").ok();
    }

    /** The test class path, copied where the test users can read it (the build's is under /root). */
    static String copyClassPath(Path dir) throws Exception {
        List<String> out = new ArrayList<>();
        int i = 0;
        for (String entry : DaemonProcess.CP.split(File.pathSeparator)) {
            Path src = Path.of(entry);
            if (!Files.exists(src)) {
                continue;
            }
            Path dst = dir.resolve(i++ + "-" + src.getFileName());
            if (Files.isDirectory(src)) {
                try (var walk = Files.walk(src)) {
                    for (Path p : walk.toList()) {
                        Path t = dst.resolve(src.relativize(p).toString());
                        if (Files.isDirectory(p)) {
                            Files.createDirectories(t);
                        } else {
                            Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                        }
                    }
                }
            } else {
                Files.copy(src, dst);
            }
            out.add(dst.toString());
        }
        sh("chmod -R a+rX " + dir).ok();
        return String.join(File.pathSeparator, out);
    }

    static String as(String user) {
        return "setpriv --reuid=" + user + " --regid=nogroup --init-groups ";
    }

    /** The real CLI, run as the operator. */
    static DaemonProcess.Result cli(String user, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=" + user, "--regid=nogroup", "--init-groups",
                DaemonProcess.JAVA, "-cp", classPath, "dev.shadowcopy.cli.Main"));
        cmd.addAll(List.of(args));
        cmd.add("--state");
        cmd.add(daemon.state.toString());
        return DaemonProcess.finish(new ProcessBuilder(cmd).start(), Duration.ofMinutes(2));
    }

    /** curl on the API as {@code user}: the answer's body. */
    static JsonNode curl(String user, String method, String path, String json) throws Exception {
        String out = sh(as(user) + "curl -s -X " + method + " --unix-socket " + daemon.state.resolve("shadowcopy.sock")
                + (json == null ? "" : " -H 'Content-Type: application/json' --data-raw '" + json + "'")
                + " http://x" + path).out();
        return Json.MAPPER.readTree(out.isEmpty() ? "{}" : out);
    }

    static void denied(JsonNode answer, String says) {
        assertEquals("E_ACCESSDENIED", answer.path("error").path("code").asText(), answer.toString());
        assertTrue(answer.path("error").path("message").asText().contains(says), answer.toString());
    }

    static void invalid(JsonNode answer, String says) {
        assertEquals("E_INVALIDARG", answer.path("error").path("code").asText(), answer.toString());
        assertTrue(answer.path("error").path("message").asText().contains(says), answer.toString());
    }

    @Test
    void theGroupOwnsTheStateDirectoryAndSocketsAndNothingElseIsOpen() throws Exception {
        String modes = sh("stat -c '%n %a %G' " + daemon.state + " " + daemon.state.resolve("shadowcopy.sock") + " "
                + daemon.state.resolve("nbd.sock") + " " + daemon.state.resolve("volumes") + " "
                + daemon.state.resolve("events.log")).ok().out();
        assertTrue(modes.contains(daemon.state + " 710 " + GROUP), modes);
        assertTrue(modes.contains("shadowcopy.sock 660 " + GROUP), modes);
        assertTrue(modes.contains("nbd.sock 660 " + GROUP), modes);
        assertTrue(modes.contains("volumes 700 root"), modes);
        assertTrue(modes.contains("events.log 600 root"), modes);
        assertEquals("operator", curl(OPERATOR, "GET", "/v1/status", null).path("role").asText());
    }

    @Test
    void anOperatorCannotMakeAVolumeOfARootOnlyFile() throws Exception {
        DaemonProcess.Result r = cli(OPERATOR, "volume", "create", "stolen", "--backing", secret.toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("E_ACCESSDENIED") && r.err().contains("for the administrator"), r.err());
        denied(curl(OPERATOR, "POST", "/v1/volumes", "{\"name\":\"stolen\",\"backing\":\"" + secret + "\"}"),
                "for the administrator");
        assertFalse(daemon.cli("list", "volumes").ok().out().contains("stolen"));
    }

    @Test
    void anOperatorsPathsStayInsideTheConfiguredRoots() throws Exception {
        String body = "{\"volumes\":[\"data\"],\"repository\":\"%s\"}";
        denied(curl(OPERATOR, "POST", "/v1/backups", body.formatted("/etc/sc-doors")), "outside the roots");
        invalid(curl(OPERATOR, "POST", "/v1/backups", body.formatted(repos + "/../../etc")), "contains '..'");
        denied(curl(OPERATOR, "POST", "/v1/backups", body.formatted(repos + "/escape/sc-doors")), "'/etc/sc-doors'");
        invalid(curl(OPERATOR, "POST", "/v1/backups", body.formatted(repos + "/a\\u0000b")), "NUL byte");
        invalid(curl(OPERATOR, "POST", "/v1/backups", body.formatted("relative/repo")), "absolute path");
        DaemonProcess.Result viaCli = cli(OPERATOR, "backup", "--for", "data", "--repo", "/etc/sc-doors");
        assertEquals(1, viaCli.exit(), viaCli.toString());
        assertTrue(viaCli.err().contains("outside the roots configured for operators"), viaCli.err());
        assertFalse(Files.exists(Path.of("/etc/sc-doors")));

        // inside the roots the operator works: a set and a backup of its volume, an expose refused elsewhere
        JsonNode set = Json.MAPPER.readTree(cli(OPERATOR, "create", "shadow", "--for", "data", "--nowriters", "--json")
                .ok().out());
        String id = set.path("shadows").get(0).path("id").asText();
        denied(curl(OPERATOR, "POST", "/v1/shadows/" + id + "/expose", "{\"mount\":\"/etc/sc-doors\"}"),
                "outside the roots");
        cli(OPERATOR, "backup", "--for", "data", "--repo", repos.resolve("r1").toString()).ok();
        assertTrue(Files.exists(repos.resolve("r1")));
    }

    @Test
    void anOperatorWorksOnlyOnTheVolumesItWasGiven() throws Exception {
        DaemonProcess.Result r = cli(OPERATOR, "create", "shadow", "--for", "secret", "--nowriters");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("volume secret is not one operators may use"), r.err());
        denied(curl(OPERATOR, "DELETE", "/v1/volumes/data", null), "for the administrator");
        denied(curl(OPERATOR, "POST", "/v1/volumes/data/attach", "{}"), "for the administrator");
        denied(curl(OPERATOR, "PUT", "/v1/shadowstorage/data", "{\"maxsize\":\"1M\"}"), "for the administrator");
        assertFalse(cli(OPERATOR, "list", "volumes").ok().out().contains("secret"));
        String nbd = "'nbd+unix:///%s?socket=" + daemon.state.resolve("nbd.sock") + "'";
        assertTrue(sh(as(OPERATOR) + "nbdinfo --size " + nbd.formatted("data")).ok().out().contains("8388608"));
        assertNotEquals(0, sh(as(OPERATOR) + "nbdinfo --size " + nbd.formatted("secret")).exit());
        assertFalse(sh(as(OPERATOR) + "nbdinfo --list " + nbd.formatted("")).ok().out().contains("secret"));
    }

    @Test
    void someoneOutsideTheGroupIsRefusedEvenIfTheSocketsWereOpenedUp() throws Exception {
        Path s = daemon.state;
        sh("chmod 711 " + s + " && chmod 666 " + s.resolve("shadowcopy.sock") + " " + s.resolve("nbd.sock")).ok();
        try {
            JsonNode a = curl(OUTSIDER, "GET", "/v1/status", null);
            denied(a, "is not in group " + GROUP);
            assertNotEquals(0, sh(as(OUTSIDER) + "nbdinfo --size 'nbd+unix:///data?socket=" + s.resolve("nbd.sock")
                    + "'").exit());
        } finally {
            sh("chmod 710 " + s + " && chmod 660 " + s.resolve("shadowcopy.sock") + " " + s.resolve("nbd.sock")).ok();
        }
        assertNotEquals(0, sh(as(OUTSIDER) + "curl -s --unix-socket " + s.resolve("shadowcopy.sock")
                + " http://x/v1/status").exit(), "the file modes keep outsiders out in the first place");
    }
}
