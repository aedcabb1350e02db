package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Work a {@code kill -9} of the real daemon interrupts is visible and safe after the restart: a restore into a
 * volume leaves the volume marked and refused until the restore is run again; a shadow copy released just before
 * the kill stays gone.
 */
class InterruptedWorkTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;

    @BeforeEach
    void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state")).start();
    }

    @AfterEach
    void stop() throws Exception {
        if (daemon != null) {
            daemon.close();
        }
    }

    JsonNode json(String... args) throws Exception {
        String[] a = new String[args.length + 1];
        System.arraycopy(args, 0, a, 0, args.length);
        a[args.length] = "--json";
        return Json.MAPPER.readTree(daemon.cli(a).ok().out());
    }

    String nbd(String export) {
        return "nbd+unix:///" + export + "?socket=" + daemon.state.resolve("nbd.sock");
    }

    JsonNode volume(String name) throws Exception {
        for (JsonNode v : json("volume", "list").path("volumes")) {
            if (v.path("name").asText().equals(name)) {
                return v;
            }
        }
        throw new AssertionError("no volume " + name);
    }

    List<JsonNode> events() throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(daemon.state.resolve("events.log"))) {
            try {
                out.add(Json.MAPPER.readTree(line));
            } catch (java.io.IOException torn) {
                // a line a kill cut short
            }
        }
        return out;
    }

    List<String> eventTypes() throws Exception {
        return events().stream().map(e -> e.path("type").asText()).toList();
    }

    static void assertRefused(DaemonProcess.Result r, String what) {
        assertNotEquals(0, r.exit(), what + " should be refused: " + r);
        assertTrue((r.err() + r.out()).contains("incomplete"), what + " should say the volume is incomplete: " + r);
    }

    @Test
    void aRestoreKilledWithTheDaemonLeavesAMarkedRefusedVolumeUntilItIsRunAgain() throws Exception {
        Path source = tmp.resolve("source.img");
        sh("head -c 192M /dev/urandom > " + source).ok();
        daemon.cli("volume", "create", "src", "--size", "192M").ok();
        sh("nbdcopy " + source + " '" + nbd("src") + "'").ok();
        Path repo = tmp.resolve("repo");
        String id = json("backup", "--for", "src", "--repo", repo.toString()).path("backup").path("id").asText();

        Process restore = daemon.cliProcess("restore", id, "--volume", "src", "--repo", repo.toString(), "--to",
                "volume:rv");
        Path desc = daemon.state.resolve("volumes").resolve("rv").resolve("volume.desc");
        await(Duration.ofSeconds(60), () -> {
            try {
                return Files.exists(desc) && Files.readString(desc).contains("incomplete=");
            } catch (java.io.IOException e) {
                return false; // being renamed into place
            }
        }, "the restore to create its target");
        daemon.kill9(); // mid-restore: 192 MiB take longer than noticing the new volume
        DaemonProcess.finish(restore, Duration.ofSeconds(60));
        assertTrue(Files.readString(desc).contains("incomplete="), "the kill came before the restore finished");

        daemon = new DaemonProcess(tmp.resolve("state")).start();
        assertTrue(eventTypes().contains("volume-incomplete"), "reported at start");
        JsonNode rv = volume("rv");
        assertEquals("incomplete", rv.path("state").asText());
        String remedy = rv.path("incomplete").asText();
        assertTrue(remedy.contains("shadowcopy restore " + id + " --volume src --repo " + repo + " --to volume:rv")
                && remedy.contains("volume delete rv"), remedy);
        String table = daemon.cli("volume", "list").ok().out();
        assertTrue(table.contains("incomplete") && table.contains("volume rv is incomplete:"), table);
        assertRefused(daemon.cli("volume", "attach", "rv"), "attach");
        // the server's message reaches the client (libnbd shows it in its debug log)
        assertRefused(sh("LIBNBD_DEBUG=1 nbdinfo '" + nbd("rv") + "' 2>&1"), "NBD");
        assertRefused(daemon.cli("create", "shadow", "--for", "rv"), "a shadow copy");
        assertRefused(daemon.cli("backup", "--for", "rv", "--repo", tmp.resolve("repo2").toString()), "a backup");

        // Run again (the command the mark names), it finishes; the volume is whole and usable.
        daemon.cli("restore", id, "--volume", "src", "--repo", repo.toString(), "--to", "volume:rv").ok();
        rv = volume("rv");
        assertEquals("ready", rv.path("state").asText());
        assertTrue(rv.path("incomplete").isNull());
        String want = sh("sha256sum < " + source).ok().out();
        assertEquals(want, sh("nbdcopy '" + nbd("rv") + "' - | sha256sum").ok().out(), "byte-exact");
        assertEquals(0, sh("nbdinfo '" + nbd("rv") + "' >/dev/null").exit(), "served again");
    }

    @Test
    void aCopyReleasedJustBeforeAKillStaysGone() throws Exception {
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        daemon.cli("resize", "shadowstorage", "--for", "v", "--maxsize", "1M").ok();
        sh("qemu-io -f raw -c 'write -P 1 0 2M' '" + nbd("v") + "' >/dev/null").ok();
        String first = json("create", "shadow", "--for", "v", "--nowriters").path("shadows").get(0).path("id").asText();
        sh("qemu-io -f raw -c 'write -P 2 0 1M' '" + nbd("v") + "' >/dev/null").ok(); // fills the 1 MiB for it
        String second = json("create", "shadow", "--for", "v", "--nowriters").path("shadows").get(0).path("id")
                .asText();
        // needs room for the second copy: the first (oldest) is released during this write
        sh("qemu-io -f raw -c 'write -P 3 0 64k' '" + nbd("v") + "' >/dev/null").ok();
        daemon.kill9(); // nothing listed the copies in between

        daemon = new DaemonProcess(tmp.resolve("state")).start();
        JsonNode shadows = json("list", "shadows").path("shadows");
        List<String> ids = new ArrayList<>();
        shadows.forEach(s -> {
            ids.add(s.path("id").asText());
            assertNotEquals("missing", s.path("state").asText(), "released means gone, not missing: " + s);
        });
        assertEquals(List.of(second), ids);
        assertFalse(eventTypes().contains("reconcile-missing-copy"));
        JsonNode released = null;
        for (JsonNode e : events()) {
            if (e.path("type").asText().equals("shadow-released")) {
                released = e;
            }
        }
        assertTrue(released != null && released.toString().contains(first), "the release was reported");
        assertFalse(released.path("details").path("protected").asBoolean(true), "and says it was not protected: "
                + released);
    }
}
