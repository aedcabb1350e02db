package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.finish;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image backups end to end, driven like an admin would: a real daemon, ext4 on an attached volume written
 * while it is backed up, full and incremental backups, restores of both points to new files and into a managed
 * volume, fsck and file checksums, qcow2 export checked by qemu-img, instant recovery over NBD, a daemon killed
 * mid-backup, encrypted repositories.
 */
class BackupIntegrationTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;
    final List<Process> spawned = new ArrayList<>();
    final List<Path> mounts = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state")).start();
    }

    @AfterEach
    void stop() throws Exception {
        for (Process p : spawned) {
            p.destroyForcibly();
        }
        for (Path m : mounts) {
            sh("umount " + m + " 2>/dev/null; true");
        }
        sh("for v in $(losetup -j " + tmp + " -O NAME -n 2>/dev/null); do losetup -d $v; done; true");
        daemon.cli("volume", "detach", "fs");
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

    /** sha256sum of every regular file under {@code dir} except {@code skip}, as sorted text. */
    static String checksums(Path dir, String skip) throws Exception {
        return sh("cd " + dir + " && find . -type f ! -name " + skip + " ! -path './lost+found/*' -print0 | sort -z "
                + "| xargs -0 sha256sum").ok().out();
    }

    Path mountImage(Path image, String name) throws Exception {
        Path m = Files.createDirectories(tmp.resolve(name));
        sh("mount -o ro,loop " + image + " " + m).ok();
        mounts.add(m);
        return m;
    }

    @Test
    void liveExt4FullAndIncrementalBackupsRestoreExactly() throws Exception {
        daemon.cli("volume", "create", "fs", "--size", "256M").ok();
        String dev = daemon.cli("volume", "attach", "fs").ok().out().trim();
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        sh("mkfs.ext4 -q -F " + dev + " && mount " + dev + " " + mnt).ok();
        mounts.add(mnt);
        sh("head -c 24M /dev/urandom > " + mnt + "/random.bin && seq 1 1500000 > " + mnt + "/seq.txt && mkdir "
                + mnt + "/dir && for i in $(seq 1 200); do echo file $i > " + mnt + "/dir/f$i; done && sync").ok();
        String before = checksums(mnt, "live.log");
        // An application keeps writing (sync'd appends) all through the backup.
        Path stopFlag = tmp.resolve("stop");
        Process w = new ProcessBuilder("bash", "-c", "i=0; while [ ! -e " + stopFlag + " ]; do i=$((i+1)); echo line $i "
                + ">> " + mnt + "/live.log; sync -d " + mnt + "/live.log; done").start();
        spawned.add(w);
        await(Duration.ofSeconds(20), () -> Files.exists(mnt.resolve("live.log")), "the application to write");
        Path repo = tmp.resolve("repo");
        JsonNode full = json("backup", "--for", "fs", "--repo", repo.toString());
        JsonNode v1 = full.path("backup").path("volumes").get(0);
        assertEquals("full", v1.path("mode").asText());
        String id1 = full.path("backup").path("id").asText();
        Files.createFile(stopFlag);
        assertTrue(w.waitFor(30, TimeUnit.SECONDS));
        // The copies were released with the session.
        assertEquals(0, json("list", "shadows").path("shadows").size());

        // Change about 1% of the volume: rewrite 2 MiB inside a file in place, and add a small file.
        sh("dd if=/dev/urandom of=" + mnt + "/random.bin bs=64K seek=40 count=32 conv=notrunc status=none && echo new "
                + "> " + mnt + "/dir/new && sync").ok();
        String after = checksums(mnt, "live.log");
        JsonNode inc = json("backup", "--for", "fs", "--repo", repo.toString());
        JsonNode v2 = inc.path("backup").path("volumes").get(0);
        String id2 = inc.path("backup").path("id").asText();
        assertEquals("incremental", v2.path("mode").asText(), inc.toString());
        assertEquals(id1, v2.path("base").asText());
        long read = v2.path("bytes_read").asLong();
        long data = v2.path("allocated_bytes").asLong();
        assertTrue(read < data / 4, "an incremental reads only what changed: " + read + " of " + data);
        assertTrue(read >= 2 << 20, "it must read at least the 2 MiB rewritten, read " + read);

        // Both points restore on their own to new files: fsck clean, files identical.
        Path img1 = tmp.resolve("r1.img");
        Path img2 = tmp.resolve("r2.img");
        daemon.cli("restore", id1, "--volume", "fs", "--repo", repo.toString(), "--to", img1.toString(), "--verify").ok();
        daemon.cli("restore", id2, "--volume", "fs", "--repo", repo.toString(), "--to", img2.toString()).ok();
        sh("e2fsck -fn " + img1).ok();
        sh("e2fsck -fn " + img2).ok();
        assertEquals(before, checksums(mountImage(img1, "m1"), "live.log"));
        assertEquals(after, checksums(mountImage(img2, "m2"), "live.log"));
        assertTrue(Files.size(mountImage(img2, "m2b").resolve("live.log")) > 0);
        assertNotEquals(before, after);

        // Into a managed volume through the daemon: equal to the file restore.
        daemon.cli("restore", id2, "--volume", "fs", "--repo", repo.toString(), "--to", "volume:copy").ok();
        String nbd = "nbd+unix:///copy?socket=" + daemon.state.resolve("nbd.sock");
        sh("qemu-img compare -f raw -F raw " + img2 + " '" + nbd + "'").ok();

        // qcow2 export: qemu-img check clean, equal to the restored image.
        Path q = tmp.resolve("fs.qcow2");
        daemon.cli("backups", "export", id2, "--volume", "fs", "--repo", repo.toString(), "--to", q.toString()).ok();
        sh("qemu-img check " + q).ok();
        sh("qemu-img compare -f raw -F qcow2 " + img2 + " " + q).ok();
        Path vmdk = tmp.resolve("fs.vmdk");
        daemon.cli("backups", "export", id2, "--volume", "fs", "--repo", repo.toString(), "--format", "vmdk", "--to",
                vmdk.toString()).ok();
        sh("qemu-img compare -f raw -F vmdk " + img2 + " " + vmdk).ok();

        // Instant recovery: the backup point over NBD, straight from the repository; a writable overlay takes writes.
        Path sock = tmp.resolve("serve.sock");
        Process serve = daemon.cliProcess("backups", "serve", id1, "--volume", "fs", "--repo", repo.toString(),
                "--socket", sock.toString(), "--writable");
        spawned.add(serve);
        await(Duration.ofSeconds(30), () -> Files.exists(sock) || !serve.isAlive(), "the NBD server");
        String served = "nbd+unix:///fs?socket=" + sock;
        sh("qemu-img compare -f raw -F raw " + img1 + " '" + served + "'").ok();
        sh("qemu-io -f raw -c 'write -P 0x5a 0 64k' -c 'read -P 0x5a 0 64k' '" + served + "'").ok();
        serve.destroy();
        assertTrue(serve.waitFor(30, TimeUnit.SECONDS));
        assertTrue(daemon.cli("backups", "verify", "--repo", repo.toString()).ok().out().contains("No damage"));
        String list = daemon.cli("backups", "list", "--repo", repo.toString()).ok().out();
        assertTrue(list.contains(id1) && list.contains(id2) && list.contains("incremental"), list);
    }

    @Test
    void daemonKilledMidBackupLeavesNoBackupAndNoCopy() throws Exception {
        daemon.cli("volume", "create", "big", "--size", "1G").ok();
        sh("qemu-io -f raw -c 'write -P 0x11 0 900M' 'nbd+unix:///big?socket=" + daemon.state.resolve("nbd.sock") + "'")
                .ok();
        Path repo = tmp.resolve("repo");
        daemon.cli("backups", "init", "--repo", repo.toString(), "--compression-level", "19").ok();
        Process b = daemon.cliProcess("backup", "--for", "big", "--repo", repo.toString(), "--threads", "1");
        spawned.add(b);
        await(Duration.ofSeconds(60), () -> {
            try (var s = Files.list(repo.resolve("backups"))) { // a backup point being written: marked partial
                return s.anyMatch(d -> Files.exists(d.resolve(".partial")));
            } catch (java.io.IOException e) {
                return false;
            }
        }, "the backup to start writing");
        daemon.kill9();
        finish(b, Duration.ofSeconds(30));
        daemon.start();
        assertEquals(0, json("list", "shadows").path("shadows").size(), "the backup's copy is gone after restart");
        assertTrue(daemon.cli("backups", "list", "--repo", repo.toString()).ok().out().lines().count() == 1,
                "no backup point from the killed run");
        daemon.cli("backups", "verify", "--repo", repo.toString()).ok();
        JsonNode again = json("backup", "--for", "big", "--repo", repo.toString());
        assertEquals("full", again.path("backup").path("volumes").get(0).path("mode").asText());
        String gc = daemon.cli("backups", "gc", "--repo", repo.toString()).ok().out();
        assertTrue(gc.contains("leftovers removed"), gc);
    }

    @Test
    void encryptedRepositoryNeedsItsPassphrase() throws Exception {
        daemon.cli("volume", "create", "sec", "--size", "64M").ok();
        sh("qemu-io -f raw -c 'write -P 0x42 1M 3M' 'nbd+unix:///sec?socket=" + daemon.state.resolve("nbd.sock") + "'")
                .ok();
        Path pass = tmp.resolve("pass");
        Files.writeString(pass, "open sesame\n");
        Path wrong = tmp.resolve("wrong");
        Files.writeString(wrong, "guess\n");
        Path repo = tmp.resolve("enc");
        daemon.cli("backups", "init", "--repo", repo.toString(), "--passphrase-file", pass.toString(),
                "--kdf-iterations", "20000").ok();
        daemon.cli("backup", "--for", "sec", "--repo", repo.toString(), "--passphrase-file", pass.toString()).ok();
        DaemonProcess.Result noPass = daemon.cli("backups", "list", "--repo", repo.toString());
        assertEquals(1, noPass.exit());
        assertTrue(noPass.err().contains("encrypted"), noPass.err());
        DaemonProcess.Result bad = daemon.cli("backup", "--for", "sec", "--repo", repo.toString(), "--passphrase-file",
                wrong.toString());
        assertNotEquals(0, bad.exit());
        assertTrue(bad.err().contains("wrong passphrase"), bad.err());
        Path out = tmp.resolve("sec.img");
        daemon.cli("restore", "latest", "--volume", "sec", "--repo", repo.toString(), "--to", out.toString(),
                "--passphrase-file", pass.toString()).ok();
        sh("qemu-io -f raw -c 'read -P 0x42 1M 3M' -c 'read -P 0 0 1M' " + out).ok();
        // Nothing in the repository holds the plaintext.
        assertEquals("1", sh("grep -rqa BBBBBBBBBBBBBBBB " + repo + "; echo $?").ok().out().trim());
        DaemonProcess.Result unknown = daemon.cli("backup", "--for", "nosuch", "--repo", repo.toString());
        assertNotEquals(0, unknown.exit());
        assertTrue(unknown.err().contains("nosuch"), unknown.err());
    }
}
