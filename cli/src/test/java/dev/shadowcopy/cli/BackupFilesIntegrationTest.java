package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code files ls|cat|restore} from backups of ext4, XFS and btrfs on attached volumes, backed up while mounted
 * (so the copy's journal or log is dirty): read in place from the repository, nothing restored, nothing left
 * mounted, and the repository unchanged.
 */
class BackupFilesIntegrationTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;
    final List<Path> mounts = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state")).start();
    }

    @AfterEach
    void stop() throws Exception {
        for (Path m : mounts) {
            sh("umount " + m + " 2>/dev/null; true");
        }
        if (daemon != null) {
            daemon.close();
        }
    }

    /** A volume with file system {@code fs}, mounted, holding a small tree; returns the mount point. */
    Path volume(String name, String mkfs) throws Exception {
        daemon.cli("volume", "create", name, "--size", "320M").ok();
        String dev = daemon.cli("volume", "attach", name).ok().out().trim();
        Path mnt = Files.createDirectories(tmp.resolve("mnt-" + name));
        if (mkfs.startsWith("mkfs.btrfs ")) {
            Host.mkfsBtrfs("-q", "-f", dev); // immune to dead mounts elsewhere on the machine
        } else {
            sh(mkfs + " " + dev + " >/dev/null").ok();
        }
        sh("mount " + dev + " " + mnt).ok();
        mounts.add(mnt);
        sh("mkdir -p " + mnt + "/etc/deep && echo 'hello from " + name + "' > " + mnt + "/etc/motd && "
                + "head -c 200000 /dev/urandom > " + mnt + "/etc/deep/blob && chown 7:8 " + mnt + "/etc/deep/blob && "
                + "chmod 0604 " + mnt + "/etc/deep/blob && touch -d '2022-02-02 02:02:02' " + mnt + "/etc/deep/blob && "
                + "setfattr -n user.origin -v " + name + " " + mnt + "/etc/motd && ln -s /etc/passwd " + mnt
                + "/etc/escape").ok();
        return mnt;
    }

    DaemonProcess.Result files(String... args) throws Exception {
        return daemon.cli(args);
    }

    void readsFilesInPlace(String name, String mkfs) throws Exception {
        Path mnt = volume(name, mkfs);
        Path repo = tmp.resolve("repo");
        daemon.cli("backup", "--for", name, "--repo", repo.toString()).ok();
        // written after the backup: must not be in it
        Files.writeString(mnt.resolve("etc/motd"), "changed after the backup\n");
        String repoBefore = sh("cd " + repo + " && find . -path ./tmp -prune -o -type f -print0 | sort -z | "
                + "xargs -0 sha256sum").ok().out();

        DaemonProcess.Result cat = files("files", "cat", "latest", "--volume", name, "--repo", repo.toString(),
                "/etc/motd").ok();
        assertEquals("hello from " + name + "\n", cat.out());
        JsonNode ls = Json.MAPPER.readTree(files("files", "ls", "latest", "--volume", name, "--repo", repo.toString(),
                "/etc", "--json").ok().out());
        List<String> names = new ArrayList<>();
        ls.path("entries").forEach(e -> names.add(e.path("name").asText() + ":" + e.path("type").asText()));
        assertEquals(List.of("deep:dir", "escape:link", "motd:file"), names);

        Path dest = Files.createDirectories(tmp.resolve("restore-" + name));
        files("files", "restore", "latest", "--volume", name, "--repo", repo.toString(), "/etc", "--to",
                dest.toString()).ok();
        assertEquals("hello from " + name + "\n", Files.readString(dest.resolve("etc/motd")));
        String expect = sh("cd " + tmp.resolve("mnt-" + name) + "/etc/deep && stat -c '%a %u:%g %s %Y' blob && "
                + "sha256sum blob").ok().out();
        assertEquals(expect, sh("cd " + dest + "/etc/deep && stat -c '%a %u:%g %s %Y' blob && sha256sum blob").ok().out());
        assertEquals("user.origin=\"" + name + "\"", sh("getfattr --only-values -n user.origin " + dest
                + "/etc/motd | xargs -0 printf 'user.origin=\"%s\"'").ok().out());
        assertEquals("/etc/passwd", Files.readSymbolicLink(dest.resolve("etc/escape")).toString(), "links stay links");

        // a link leading out of the backup is not followed into this machine's files; a missing path is named
        DaemonProcess.Result esc = files("files", "cat", "latest", "--volume", name, "--repo", repo.toString(),
                "/etc/escape");
        assertTrue(esc.exit() == 1 && esc.err().contains("leads outside the backup"), esc.err());
        DaemonProcess.Result missing = files("files", "cat", "latest", "--volume", name, "--repo", repo.toString(),
                "/nope");
        assertTrue(missing.exit() == 1 && missing.err().contains("/nope"), missing.err());

        // nothing stays mounted or attached, and the backup was not written to (no journal replay into it)
        assertTrue(sh("grep -c shadowcopy-files- /proc/self/mountinfo || true").ok().out().trim().equals("0"));
        assertEquals(repoBefore, sh("cd " + repo + " && find . -path ./tmp -prune -o -type f -print0 | sort -z | "
                + "xargs -0 sha256sum").ok().out());
    }

    @Test
    void filesOfAnExt4BackupAreReadWithoutARestore() throws Exception {
        readsFilesInPlace("ext", "mkfs.ext4 -q -F");
    }

    @Test
    void filesOfAnXfsBackupAreReadWithoutARestore() throws Exception {
        readsFilesInPlace("xfs", "mkfs.xfs -q -f");
    }

    @Test
    void filesOfABtrfsBackupAreReadWithoutARestore() throws Exception {
        readsFilesInPlace("btr", "mkfs.btrfs -q -f");
    }

    @Test
    void aVolumeWithoutAFileSystemWeReadIsRefusedClearly() throws Exception {
        daemon.cli("volume", "create", "raw", "--size", "16M").ok();
        sh("qemu-io -f raw -c 'write -P 7 0 1M' 'nbd+unix:///raw?socket=" + daemon.state.resolve("nbd.sock") + "'")
                .ok();
        Path repo = tmp.resolve("repo");
        daemon.cli("backup", "--for", "raw", "--repo", repo.toString()).ok();
        DaemonProcess.Result r = files("files", "ls", "latest", "--volume", "raw", "--repo", repo.toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("holds no file system this command reads") && r.err().contains("ext4")
                && r.err().contains("XFS") && r.err().contains("btrfs"), r.err());
        r = files("files", "ls", "latest", "--volume", "other", "--repo", repo.toString());
        assertTrue(r.exit() == 1 && r.err().contains("has no volume other"), r.err());
        assertTrue(new String(Files.readAllBytes(repo.resolve("repository.json")), StandardCharsets.UTF_8)
                .contains("\""), "the repository is still there");
    }
}
