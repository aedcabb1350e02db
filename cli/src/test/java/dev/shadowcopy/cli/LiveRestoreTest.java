package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code restore … --to volume:NAME --live}, as an admin runs it: a real daemon, the guest's writes through the loop
 * device and NBD while the backup is copied in, the daemon killed with -9 twice on the way; at the end NAME is an
 * ordinary volume holding the backup with every write the guest made. And a running {@code backups serve} migrated
 * the same way, its guest reconnecting to the same socket.
 */
@Tag("host")
class LiveRestoreTest {
    static final int MIB = 1 << 20;

    @TempDir
    Path tmp;
    DaemonProcess daemon;
    Path repo;
    Path source;
    String backup;
    final List<Process> spawned = new ArrayList<>();

    @BeforeEach
    void backupOfAVolume() throws Exception {
        Host.requireRoot();
        for (String p : new String[] {"qemu-io", "nbdcopy", "losetup"}) {
            Host.requireProgram(p);
        }
        daemon = new DaemonProcess(tmp.resolve("state")).start();
        source = tmp.resolve("source.img");
        byte[] data = new byte[64 * MIB];
        new Random(3).nextBytes(data);
        java.util.Arrays.fill(data, 20 * MIB, 28 * MIB, (byte) 0); // zeros: copied as zeros, never read
        Files.write(source, data);
        daemon.cli("volume", "create", "src", "--size", "64M").ok();
        sh("nbdcopy " + source + " '" + nbd("src") + "'").ok();
        repo = tmp.resolve("repo");
        backup = json("backup", "--for", "src", "--repo", repo.toString()).path("backup").path("id").asText();
    }

    @AfterEach
    void stop() throws Exception {
        spawned.forEach(Process::destroyForcibly);
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

    /** Writes {@code mib} MiB of new random data at {@code atMib} into {@code expected} and returns the file. */
    Path guestData(byte[] expected, int atMib, int mib, long seed) throws Exception {
        byte[] d = new byte[mib * MIB];
        new Random(seed).nextBytes(d);
        System.arraycopy(d, 0, expected, atMib * MIB, d.length);
        Path f = tmp.resolve("w" + seed + ".bin");
        Files.write(f, d);
        return f;
    }

    void awaitRestored(String name) throws Exception {
        await(Duration.ofSeconds(120), () -> {
            try {
                return volume(name).path("state").asText().equals("ready");
            } catch (Exception e) {
                return false;
            }
        }, "the live restore into " + name + " to finish");
    }

    String sha256Of(String nbdUri) throws Exception {
        return sh("nbdcopy '" + nbdUri + "' - | sha256sum").ok().out();
    }

    static String sha256(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b))
                + "  -\n";
    }

    /** The event types in order, with the message of each error (so that a failure says what went wrong). */
    List<String> eventTypes() throws Exception {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(daemon.state.resolve("events.log"))) {
            try {
                JsonNode e = Json.MAPPER.readTree(line);
                out.add(e.path("type").asText() + (e.path("level").asText().equals("error") ? " ("
                        + e.path("message").asText() + ")" : ""));
            } catch (java.io.IOException torn) {
                // a line a kill cut short
            }
        }
        return out;
    }

    @Test
    void aLiveRestoreKilledTwiceFinishesByteExactWithTheGuestsWrites() throws Exception {
        byte[] expected = Files.readAllBytes(source);
        // 64 MiB at 4 MB/s: the copy is still going at both kills
        daemon.cli("restore", backup, "--volume", "src", "--repo", repo.toString(), "--to", "volume:live", "--live",
                "--rate", "4", "--no-wait").ok();
        JsonNode v = volume("live");
        assertEquals("migrating", v.path("state").asText(), v.toString());
        String dev = daemon.cli("volume", "attach", "live").ok().out().trim();
        assertEquals(sha256(java.util.Arrays.copyOf(expected, 8 * MIB)),
                sh("head -c 8M " + dev + " | sha256sum").ok().out(), "usable at once: the backup's data");
        assertNotEquals(0, daemon.cli("create", "shadow", "--for", "live").exit(), "no copy of a half-restored volume");

        Path w1 = guestData(expected, 40, 2, 1); // flushed
        sh("dd if=" + w1 + " of=" + dev + " bs=1M seek=40 oflag=direct conv=fsync,notrunc status=none").ok();
        Path w2 = guestData(expected, 61, 1, 2); // acknowledged, not flushed: a process death must not lose it
        sh("dd if=" + w2 + " of=" + dev + " bs=1M seek=61 oflag=direct conv=notrunc status=none").ok();
        daemon.kill9();
        daemon = new DaemonProcess(tmp.resolve("state")).start();

        Path w3 = guestData(expected, 10, 1, 3);
        sh("dd if=" + w3 + " of=" + dev + " bs=1M seek=10 oflag=direct conv=notrunc status=none").ok();
        sh("qemu-io -f raw -c 'write -P 0x5c 30M 64k' -c flush '" + nbd("live") + "'").ok(); // a partial chunk
        java.util.Arrays.fill(expected, 30 * MIB, 30 * MIB + 65536, (byte) 0x5c);
        assertTrue(volume("live").path("state").asText().equals("migrating"), "still going at the second kill");
        daemon.kill9();
        daemon = new DaemonProcess(tmp.resolve("state")).start();

        awaitRestored("live");
        assertEquals(sha256(expected), sha256Of(nbd("live")), "byte-exact: the backup and every guest write");
        assertEquals(sha256(expected), sh("cat " + dev + " | sha256sum").ok().out(), "the attached device too");
        List<String> types = eventTypes();
        assertEquals(2, types.stream().filter("migration-resumed"::equals).count(), types.toString());
        assertTrue(types.contains("migration-complete"), types.toString());
        assertFalse(types.stream().anyMatch(t -> t.startsWith("migration-failed")), types.toString());
        assertFalse(Files.exists(daemon.state.resolve("migrations").resolve("live")), "its state is gone");
        daemon.cli("create", "shadow", "--for", "live", "--nowriters").ok(); // an ordinary volume now
        daemon.cli("volume", "detach", "live").ok();
    }

    @Test
    void aRunningServeIsMigratedAndItsGuestReconnectsToItsSocket() throws Exception {
        byte[] expected = Files.readAllBytes(source);
        Path overlay = tmp.resolve("guest.overlay");
        Path socket = tmp.resolve("serve.sock");
        Process serve = daemon.cliProcess("backups", "serve", backup, "--volume", "src", "--repo", repo.toString(),
                "--socket", socket.toString(), "--writable", "--overlay", overlay.toString());
        spawned.add(serve);
        await(Duration.ofSeconds(30), () -> Files.exists(socket) || !serve.isAlive(), "the NBD server");
        String served = "nbd+unix:///src?socket=" + socket;
        sh("qemu-io -f raw -c 'write -P 0x11 5M 1M' -c flush '" + served + "'").ok();
        java.util.Arrays.fill(expected, 5 * MIB, 6 * MIB, (byte) 0x11);

        daemon.cli("restore", backup, "--volume", "src", "--repo", repo.toString(), "--to", "volume:moved", "--live",
                "--overlay", overlay.toString(), "--rate", "16", "--no-wait").ok();
        assertTrue(serve.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "the serve handed over and exited");
        // the guest reconnects to the same socket, now the daemon's: its writes so far are there, new ones go on
        sh("qemu-io -f raw -c 'read -P 0x11 5M 1M' -c 'write -P 0x22 50M 1M' -c flush '" + served + "'").ok();
        java.util.Arrays.fill(expected, 50 * MIB, 51 * MIB, (byte) 0x22);
        awaitRestored("moved");
        assertEquals(sha256(expected), sha256Of(nbd("moved")), "the backup, the overlay's writes and the later ones");
        assertTrue(eventTypes().contains("migration-complete"), eventTypes().toString());
        assertFalse(Files.exists(overlay), "the overlay was moved into the volume");
    }
}
