package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.volume.FileDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code backups serve --writable --overlay PATH}, the real CLI process and real NBD clients: what a flush
 * acknowledged survives {@code kill -9} of the server, serving again with the same overlay continues, and the overlay
 * refuses another backup point and a second server.
 */
@Tag("host")
class ServeOverlayTest {
    static final int MIB = 1 << 20;

    @TempDir
    Path tmp;
    Path repo;
    String backup;
    byte[] volume;
    final List<Process> spawned = new ArrayList<>();

    String backUp(byte[] data) throws Exception {
        Path img = tmp.resolve("vol-" + System.nanoTime() + ".img");
        Files.write(img, data);
        try (FileDevice d = FileDevice.open(img, true)) {
            return BackupWriter.write(Repository.open(repo, null), new BackupWriter.Request(List.of(new VolumeSource(
                    "vol", UUID.randomUUID().toString(), UUID.randomUUID().toString(), 1, d, null)), Instant.now(),
                    "set", "backup", "crash-consistent", List.of(), Map.of(), Leases.HostName.current(), null, true, 2,
                    Duration.ofSeconds(30)), Progress.NONE).manifest().id();
        }
    }

    @BeforeEach
    void backupOfRandomData() throws Exception {
        Host.requireProgram("qemu-io");
        Host.requireProgram("nbdcopy");
        volume = new byte[16 * MIB];
        new Random(20).nextBytes(volume);
        Arrays.fill(volume, 4 * MIB, 6 * MIB, (byte) 0); // a zero region: served as a hole
        repo = tmp.resolve("repo");
        Repository.init(repo, Repository.InitOptions.defaults(null));
        backup = backUp(volume);
    }

    @AfterEach
    void stopServers() {
        spawned.forEach(Process::destroyForcibly);
    }

    Process serve(Path socket, String id, Path overlay) throws Exception {
        Files.deleteIfExists(socket);
        Process p = new ProcessBuilder(DaemonProcess.JAVA, "-cp", DaemonProcess.CP, "dev.shadowcopy.cli.Main", "backups",
                "serve", id, "--volume", "vol", "--repo", repo.toString(), "--socket", socket.toString(), "--writable",
                "--overlay", overlay.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(tmp.resolve("serve.log").toFile())).start();
        spawned.add(p);
        await(Duration.ofSeconds(30), () -> Files.exists(socket) || !p.isAlive(), "the NBD server");
        assertTrue(p.isAlive(), "serve died: " + Files.readString(tmp.resolve("serve.log")));
        return p;
    }

    static String nbd(Path socket) {
        return "nbd+unix:///vol?socket=" + socket;
    }

    byte[] served(Path socket) throws Exception {
        Path out = tmp.resolve("served-" + System.nanoTime() + ".img");
        sh("nbdcopy '" + nbd(socket) + "' " + out).ok();
        byte[] b = Files.readAllBytes(out);
        Files.delete(out);
        return b;
    }

    @Test
    void flushedWritesSurviveAKillNineAndServingAgainContinues() throws Exception {
        Path socket = tmp.resolve("s.sock");
        Path overlay = tmp.resolve("guest.overlay");
        Process first = serve(socket, backup, overlay);
        // qemu-io's writes, each followed by a flush (qemu-io flushes again when it closes the image)
        sh("qemu-io -f raw -c 'write -P 0xab 1M 1M' -c 'flush' -c 'write -P 0xcd 4100k 8k' -c 'flush' '"
                + nbd(socket) + "'").ok();
        first.destroyForcibly().waitFor(); // kill -9: no shutdown hook, no close
        byte[] want = volume.clone();
        Arrays.fill(want, MIB, 2 * MIB, (byte) 0xab);
        Arrays.fill(want, 4100 * 1024, 4108 * 1024, (byte) 0xcd);

        Process second = serve(socket, "latest", overlay);
        assertArrayEquals(want, served(socket), "the backup with every flushed write");
        sh("qemu-io -f raw -c 'write -P 0xef 15M 4k' '" + nbd(socket) + "'").ok();
        second.destroy(); // SIGTERM: flushed and kept at exit too
        second.waitFor();
        Arrays.fill(want, 15 * MIB, 15 * MIB + 4096, (byte) 0xef);
        serve(socket, backup, overlay);
        assertArrayEquals(want, served(socket), "continued where it stopped");
    }

    DaemonProcess.Result serveOnce(String id, Path overlay) throws Exception {
        return DaemonProcess.finish(new ProcessBuilder(DaemonProcess.JAVA, "-cp", DaemonProcess.CP,
                "dev.shadowcopy.cli.Main", "backups", "serve", id, "--volume", "vol", "--repo", repo.toString(),
                "--socket", tmp.resolve("other.sock").toString(), "--writable", "--overlay", overlay.toString())
                .start(), Duration.ofSeconds(60));
    }

    @Test
    void anOverlayServesOnlyItsBackupPointAndOneServerAtATime() throws Exception {
        Path socket = tmp.resolve("a.sock");
        Path overlay = tmp.resolve("guest.overlay");
        Process first = serve(socket, backup, overlay);
        DaemonProcess.Result second = serveOnce(backup, overlay);
        assertNotEquals(0, second.exit());
        assertTrue(second.err().contains("in use by another process"), second.err());
        first.destroy();
        first.waitFor();

        String newer = backUp(new byte[16 * MIB]);
        DaemonProcess.Result other = serveOnce(newer, overlay);
        assertNotEquals(0, other.exit());
        assertTrue(other.err().contains("holds writes to volume vol of backup " + backup), other.err());

        Path stray = tmp.resolve("not-an-overlay");
        Files.writeString(stray, "data");
        DaemonProcess.Result refused = serveOnce(backup, stray);
        assertNotEquals(0, refused.exit());
        assertTrue(refused.err().contains("is not an overlay"), refused.err());
    }
}
