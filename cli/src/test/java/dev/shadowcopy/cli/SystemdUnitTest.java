package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.testing.Host;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * The unit's logic without systemd: {@code fake-systemd.py} does what systemd does for
 * {@code packaging/shadowcopy.service} (Type=notify, FileDescriptorStoreMax=, Restart=), and the service keeps
 * the FUSE descriptors of attached volumes in that store instead of a holder process: a volume stays mounted
 * and written through a kill -9 and a SIGTERM of the service, taken back from {@code $LISTEN_FDS}.
 */
@Tag("host")
class SystemdUnitTest {
    @TempDir
    Path tmp;
    Process systemd;
    Process app;
    Path mnt;

    @AfterEach
    void tearDown() throws Exception {
        if (app != null) {
            app.destroyForcibly();
        }
        Path state = tmp.resolve("state");
        if (systemd != null && systemd.isAlive()) {
            sh("umount " + mnt + " 2>/dev/null; true");
            cli(state, "volume", "detach", "data");
            systemd.destroy(); // SIGTERM: it stops the service and exits
            systemd.waitFor(60, TimeUnit.SECONDS);
        }
        DaemonProcess.releaseAttachments(state);
    }

    private String status() {
        try {
            Path f = tmp.resolve("systemd").resolve("status");
            return Files.exists(f) ? Files.readString(f).strip() : "";
        } catch (IOException e) {
            return "";
        }
    }

    private List<String> store() throws IOException {
        Path f = tmp.resolve("systemd").resolve("store");
        return Files.exists(f) ? Files.readAllLines(f) : List.of();
    }

    private static DaemonProcess.Result cli(Path state, String... args) throws Exception {
        DaemonProcess d = new DaemonProcess(state);
        return d.cli(args);
    }

    @Test
    void theDescriptorsLiveInSystemdsStoreAcrossAKillAndAStop() throws Exception {
        Host.requireRoot();
        Host.requireProgram("python3");
        Path work = Files.createDirectories(tmp.resolve("systemd"));
        Path state = tmp.resolve("state");
        Path script = work.resolve("fake-systemd.py");
        try (InputStream in = getClass().getResourceAsStream("/fake-systemd.py")) {
            Files.copy(in, script);
        }
        systemd = new ProcessBuilder("python3", script.toString(), work.toString(), "--", DaemonProcess.JAVA, "-cp",
                DaemonProcess.CP, "dev.shadowcopy.cli.Main", "daemon", "--state", state.toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("systemd.log").toFile()).start();
        await(Duration.ofSeconds(60), () -> status().startsWith("1 ") && status().endsWith("ready"),
                "READY=1 from the first start");
        cli(state, "volume", "create", "data", "--size", "128M").ok();
        String dev = cli(state, "volume", "attach", "data").ok().out().strip();
        assertEquals(List.of("volume/data"), store(), "the FUSE descriptor is in systemd's store");
        assertFalse(Files.exists(state.resolve("holder.sock")), "no holder process under systemd");
        sh("mkfs.ext4 -q " + dev).ok();
        mnt = Files.createDirectories(tmp.resolve("mnt"));
        sh("mount " + dev + " " + mnt).ok();
        Path ack = tmp.resolve("ack");
        app = new ProcessBuilder(DaemonProcess.JAVA, "-cp", DaemonProcess.CP, RecordWriter.class.getName(),
                mnt.resolve("records").toString(), ack.toString(), "11").redirectErrorStream(true)
                .redirectOutput(tmp.resolve("app.log").toFile()).start();
        for (int round = 2; round <= 3; round++) {
            long before = Files.exists(ack) ? Files.size(ack) : 0;
            await(Duration.ofSeconds(60), () -> size(ack) > before, "the application to make progress");
            long pid = Long.parseLong(status().split(" ")[1]);
            ProcessHandle h = ProcessHandle.of(pid).orElseThrow();
            if (round == 2) {
                h.destroyForcibly(); // kill -9
            } else {
                h.destroy(); // SIGTERM, as systemctl stop/restart sends
            }
            h.onExit().get(60, TimeUnit.SECONDS);
            String want = round + " ";
            await(Duration.ofSeconds(60), () -> status().startsWith(want) && status().endsWith("ready"),
                    "start " + round + " of the service");
            long after = size(ack);
            await(Duration.ofSeconds(60), () -> size(ack) > after, "the application to continue");
        }
        Files.createFile(tmp.resolve("stop"));
        assertTrue(app.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, app.exitValue(), Files.readString(tmp.resolve("app.log")));
        assertTrue(RecordWriter.verify(mnt.resolve("records"), ack) > 0);
        String events = Files.readString(state.resolve("events.log"));
        assertEquals(2, events.lines().filter(l -> l.contains("\"attachment-adopted\"")).count(), events);
        assertTrue(events.contains("systemd file-descriptor store"), events);
        sh("umount " + mnt).ok();
        assertEquals(0, sh("e2fsck -fn " + dev).exit());
        cli(state, "volume", "detach", "data").ok();
        await(Duration.ofSeconds(10), () -> {
            try {
                return store().isEmpty();
            } catch (IOException e) {
                return false;
            }
        }, "FDSTOREREMOVE after detach");
    }

    private static long size(Path p) {
        try {
            return Files.exists(p) ? Files.size(p) : 0;
        } catch (IOException e) {
            return 0;
        }
    }
}
