package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * The volume under a running application survives the service: ext4 mounted on an attached volume, an
 * application writing checksummed records with fdatasync, and the daemon stopped (SIGTERM) or killed (-9)
 * at random moments, then started again — from the same classes, or from a copy installed elsewhere (an
 * upgrade). The application never sees an error, every record it had synced is there, e2fsck is clean,
 * shadow copies taken between restarts read back exactly as they did when they were taken, and a copy exposed
 * (mounted) between restarts stays mounted and reads the same.
 *
 * <p>Rounds: {@code -Dshadowcopy.restart.rounds} (20 by default); seed {@code -Dshadowcopy.restart.seed}
 * (printed).
 */
@Tag("host")
class LiveVolumeRestartTest {
    @TempDir
    Path tmp;
    Path state;
    Path mnt;
    DaemonProcess daemon;
    Process app;
    String device;

    @BeforeEach
    void setUp() throws Exception {
        Host.requireRoot();
        for (String p : List.of("losetup", "mkfs.ext4", "e2fsck", "mount", "nbdcopy", "sha256sum")) {
            Host.requireProgram(p);
        }
        state = tmp.resolve("state");
        mnt = tmp.resolve("mnt");
        daemon = new DaemonProcess(state).start();
        daemon.cli("volume", "create", "data", "--size", "256M").ok();
        device = daemon.cli("volume", "attach", "data").ok().out().strip();
        sh("mkfs.ext4 -q " + device).ok();
        Files.createDirectories(mnt);
        sh("mount " + device + " " + mnt).ok();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (app != null && app.isAlive()) {
            app.destroyForcibly();
        }
        if (daemon != null && !daemon.alive()) {
            daemon = new DaemonProcess(state).start(); // so that the file system can be unmounted cleanly
        }
        sh("umount " + mnt + " 2>/dev/null; true");
        if (daemon != null) {
            daemon.cli("volume", "detach", "data");
            daemon.close();
        }
    }

    @Test
    void anApplicationNeverSeesTheServiceStopOrDieUnderIt() throws Exception {
        long seed = Long.getLong("shadowcopy.restart.seed", System.nanoTime());
        int rounds = Integer.getInteger("shadowcopy.restart.rounds", 20);
        System.out.println("LiveVolumeRestartTest seed " + seed + ", " + rounds + " rounds");
        runRounds(new Random(seed), rounds, null);
    }

    @Test
    void anUpgradeTakesOverTheRunningApplicationsVolume() throws Exception {
        // An upgrade installs new files and starts the service from them; the holder of the old one keeps
        // the connections meanwhile. Here the "new version" is a copy of the classes in another directory.
        String upgraded = installCopy(tmp.resolve("upgrade"));
        runRounds(new Random(7), 3, upgraded);
    }

    private void runRounds(Random r, int rounds, String upgradeClasspath) throws Exception {
        Path records = mnt.resolve("records");
        Path ack = tmp.resolve("ack");
        app = new ProcessBuilder(DaemonProcess.JAVA, "-cp", DaemonProcess.CP, RecordWriter.class.getName(),
                records.toString(), ack.toString(), Long.toString(r.nextLong()))
                .redirectErrorStream(true).redirectOutput(tmp.resolve("app.log").toFile()).start();
        Map<String, String> copies = new LinkedHashMap<>();
        Path exposed = tmp.resolve("exposed");
        String exposedCopy = null;
        String exposedHash = null;
        int kills = 0;
        for (int round = 0; round < rounds; round++) {
            long before = acked(ack);
            await(Duration.ofSeconds(60), () -> acked(ack) > before, "the application to make progress (round "
                    + round + ")");
            long pause = r.nextInt(300);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(pause);
            while (System.nanoTime() < deadline) {
                Thread.onSpinWait(); // a random moment in the application's stream of writes and syncs
            }
            if (r.nextBoolean()) {
                daemon.kill9();
                kills++;
            } else {
                daemon.stop();
            }
            assertTrue(app.isAlive(), "the application ended while the service was away: " + appLog(ack));
            daemon = new DaemonProcess(state);
            if (upgradeClasspath != null) {
                daemon.classpath(upgradeClasspath);
            }
            daemon.start();
            if (round % 5 == 4 || round == rounds - 1) {
                copies.put(createCopy(), null);
            }
            for (var e : copies.entrySet()) {
                if (e.getValue() == null) {
                    e.setValue(hashOf(e.getKey()));
                }
            }
            if (exposedHash == null && !copies.isEmpty()) {
                // an exposure is state too: the first copy stays mounted through every later restart
                exposedCopy = copies.keySet().iterator().next();
                daemon.cli("expose", exposedCopy, "--mount", exposed.toString()).ok();
                exposedHash = sh("sha256sum " + exposed.resolve("records")).ok().out().split(" ")[0];
            } else if (exposedHash != null) {
                assertEquals(exposedHash, sh("sha256sum " + exposed.resolve("records")).ok().out().split(" ")[0],
                        "the exposed copy reads the same after restart " + round);
            }
        }
        if (exposedCopy != null) {
            daemon.cli("unexpose", exposedCopy).ok();
        }
        Files.createFile(ack.resolveSibling("stop"));
        assertTrue(app.waitFor(60, TimeUnit.SECONDS), "the application did not stop");
        assertEquals(0, app.exitValue(), appLog(ack));
        long acked = RecordWriter.verify(records, ack);
        assertTrue(acked > rounds, "only " + acked + " records acknowledged");
        for (var e : copies.entrySet()) {
            assertEquals(e.getValue(), hashOf(e.getKey()), "shadow copy " + e.getKey() + " changed across restarts");
        }
        sh("umount " + mnt).ok();
        DaemonProcess.Result fsck = sh("e2fsck -fn " + device);
        assertEquals(0, fsck.exit(), "e2fsck after " + rounds + " restarts: " + fsck.out() + fsck.err());
        String events = Files.readString(state.resolve("events.log"));
        long adopted = events.lines().filter(l -> l.contains("\"attachment-adopted\"") && l.contains("volume/data"))
                .count();
        assertEquals(rounds, adopted, "every start took the attachment over");
        assertFalse(events.contains("\"attachment-lost\""), events);
        assertFalse(events.contains("change tracking restarts"), "a kill -9 is not a write while closed");
        System.out.println("LiveVolumeRestartTest: " + rounds + " restarts (" + kills + " kill -9), " + acked
                + " records acknowledged and intact, " + copies.size() + " shadow copies exact");
    }

    private String createCopy() throws Exception {
        daemon.cli("create", "shadow", "--for", "data").ok();
        JsonNode list = Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out());
        List<String> ids = new ArrayList<>();
        list.path("shadows").forEach(s -> ids.add(s.path("id").asText()));
        return ids.getLast();
    }

    private String hashOf(String copy) throws Exception {
        DaemonProcess.Result h = sh("nbdcopy 'nbd+unix:///shadow/" + copy + "?socket=" + state.resolve("nbd.sock")
                + "' - | sha256sum").ok();
        return h.out().split(" ")[0];
    }

    /** Progress of the application: the size of its acknowledgement log. */
    private static long acked(Path ack) {
        try {
            return Files.exists(ack) ? Files.size(ack) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private String appLog(Path ack) throws IOException {
        List<String> lines = Files.exists(ack) ? Files.readAllLines(ack) : List.of();
        return "app log: " + Files.readString(tmp.resolve("app.log")) + " last acks: "
                + lines.subList(Math.max(0, lines.size() - 3), lines.size());
    }

    /** Copies every class path entry under {@code dir} (as an installer would) and returns the new class path. */
    private static String installCopy(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        int i = 0;
        for (String entry : DaemonProcess.CP.split(java.io.File.pathSeparator)) {
            Path src = Path.of(entry);
            if (!Files.exists(src)) {
                continue;
            }
            Path dst = dir.resolve(i++ + "-" + src.getFileName());
            if (Files.isDirectory(src)) {
                try (Stream<Path> walk = Files.walk(src)) {
                    for (Path p : walk.toList()) {
                        Path t = dst.resolve(src.relativize(p).toString());
                        if (Files.isDirectory(p)) {
                            Files.createDirectories(t);
                        } else {
                            Files.copy(p, t);
                        }
                    }
                }
            } else {
                Files.createDirectories(dir);
                Files.copy(src, dst);
            }
            out.add(dst.toString());
        }
        return String.join(java.io.File.pathSeparator, out);
    }
}
