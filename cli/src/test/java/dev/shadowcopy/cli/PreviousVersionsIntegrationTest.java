package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.attach.Mounts;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code versions PATH}: a file's and a directory tree's versions across shadow copies of a mounted ext4 on an
 * attached volume, restored with content, mode, owner, times and xattrs; copies mounted on demand, kept across a
 * restart of the daemon (state), and unmounted when idle.
 */
class PreviousVersionsIntegrationTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;
    Path mnt;

    @BeforeEach
    void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state"), "--versions-idle", "3").start();
        daemon.cli("volume", "create", "fs", "--size", "64M").ok();
        String dev = daemon.cli("volume", "attach", "fs").ok().out().trim();
        mnt = tmp.resolve("mnt");
        Files.createDirectories(mnt);
        sh("mkfs.ext4 -q -F " + dev + " && mount " + dev + " " + mnt).ok();
    }

    @AfterEach
    void stop() throws Exception {
        sh("umount " + mnt + " 2>/dev/null; true");
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

    String copy() throws Exception {
        return json("create", "shadow", "--for", "fs", "--nowriters").path("shadows").get(0).path("id").asText();
    }

    /** Mounts the service made under its state directory for versions. */
    List<Path> onDemandMounts() throws IOException {
        Path root = daemon.state.resolve("previous");
        List<Path> out = new ArrayList<>();
        if (Files.isDirectory(root)) {
            try (Stream<Path> s = Files.walk(root, 2)) {
                for (Path p : s.toList()) {
                    if (Mounts.isMountPoint(p)) {
                        out.add(p);
                    }
                }
            }
        }
        return out;
    }

    /** mode, owner, mtime (ns) and user xattr of a file, as stat and getfattr print them. */
    static String meta(Path p) throws Exception {
        return sh("stat -c '%a %u:%g %Y.%y' '" + p + "' && getfattr --absolute-names -d -m user. '" + p
                + "' | grep -v '^#'").ok().out();
    }

    @Test
    void aFilesDistinctVersionsAreListedAndOneIsRestoredBesideTheOriginalWithItsAttributes() throws Exception {
        Path f = mnt.resolve("report.txt");
        sh("echo 'version 1' > " + f + " && chown 1234:2345 " + f + " && chmod 0640 " + f
                + " && touch -d '2020-01-02 03:04:05.123456789' " + f + " && setfattr -n user.tag -v first " + f).ok();
        String meta1 = meta(f);
        String c1 = copy();
        String c2 = copy(); // same content: one version with two copies
        sh("echo 'version 2, longer' > " + f + " && chmod 0600 " + f).ok();
        String c3 = copy();
        sh("echo 'version 3 (live)' > " + f).ok();

        JsonNode v = json("versions", f.toString());
        assertEquals("fs", v.path("volume").asText());
        assertEquals("report.txt", v.path("relative").asText());
        JsonNode versions = v.path("versions");
        assertEquals(2, versions.size(), v.toString());
        assertEquals(c3, versions.get(0).path("shadow").asText(), "newest first");
        assertEquals(18, versions.get(0).path("size").asLong());
        assertEquals("0600", versions.get(0).path("mode").asText());
        assertEquals(c2, versions.get(1).path("shadow").asText(), "the newest copy holding the version");
        assertEquals(List.of(c2, c1), Json.MAPPER.convertValue(versions.get(1).path("copies"), List.class));
        assertEquals("0640", versions.get(1).path("mode").asText());
        assertEquals(1234, versions.get(1).path("uid").asInt());
        assertEquals(sh("echo 'version 1' | sha256sum | cut -d' ' -f1").ok().out().trim(),
                versions.get(1).path("sha256").asText());
        assertFalse(versions.get(0).path("current").asBoolean());

        JsonNode r = json("versions", f.toString(), "--restore", c1);
        Path restored = Path.of(r.path("to").asText());
        assertEquals(mnt, restored.getParent());
        assertTrue(restored.getFileName().toString().matches("report\\.txt \\(\\d{4}-\\d\\d-\\d\\d \\d{4}\\)"),
                restored.toString());
        assertEquals("version 1\n", Files.readString(restored));
        assertEquals(meta1.replace(f.toString(), ""), meta(restored).replace(restored.toString(), ""));
        assertEquals("version 3 (live)\n", Files.readString(f), "the original is untouched");

        // never overwritten without --overwrite; with it, replaced
        DaemonProcess.Result again = daemon.cli("versions", f.toString(), "--restore", c1);
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("--overwrite"), again.err());
        assertEquals("version 1\n", Files.readString(restored));
        daemon.cli("versions", f.toString(), "--restore", c3, "--to", f.toString(), "--overwrite").ok();
        assertEquals("version 2, longer\n", Files.readString(f));
    }

    /** Every entry's path, type, mode, owner, size (not of directories) and mtime; file hashes; user xattrs. */
    static String tree(Path d) throws Exception {
        return sh("cd " + d + " && find . \\( -type d -printf '%p %y %m %U:%G - %T@\\n' \\) "
                + "-o -printf '%p %y %m %U:%G %s %T@\\n' | sort && "
                + "find . -type f -print0 | sort -z | xargs -0 sha256sum && getfattr -R -d -m user. . ").ok().out();
    }

    @Test
    void aDirectoryTreeIsRestoredWithContentModeOwnerAndTimes() throws Exception {
        Path d = mnt.resolve("project");
        sh("mkdir -p " + d + "/src/deep && echo a > " + d + "/a && echo b > " + d + "/src/b && "
                + "head -c 300000 /dev/urandom > " + d + "/src/deep/blob && ln -s ../a " + d + "/src/link && "
                + "chown -R 42:43 " + d + "/src && chmod 0700 " + d + "/src/deep && "
                + "setfattr -n user.k -v v " + d + "/src/b && touch -d '2021-05-06 07:08:09' " + d + "/a " + d
                + "/src/deep " + d).ok();
        String before = tree(d);
        String c = copy();
        sh("rm -rf " + d + "/src && echo changed > " + d + "/a").ok();

        JsonNode v = json("versions", d.toString());
        assertEquals(1, v.path("versions").size(), v.toString());
        assertEquals("directory", v.path("versions").get(0).path("type").asText());
        Path target = tmp.resolve("restored");
        Files.createDirectories(target);
        JsonNode r = json("versions", d.toString(), "--restore", c, "--to", target.toString());
        Path restored = target.resolve("project");
        assertEquals(restored.toString(), r.path("to").asText());
        String after = tree(restored);
        assertEquals(before, after);
        // a file deleted from the live volume still has its versions (through its nearest existing directory)
        assertEquals(1, json("versions", d.resolve("src/b").toString()).path("versions").size());
    }

    @Test
    void copiesAreMountedOnDemandKeptAcrossARestartAndUnmountedWhenIdle() throws Exception {
        Path f = mnt.resolve("x");
        Files.writeString(f, "old");
        copy();
        Files.writeString(f, "new");
        assertEquals(1, json("versions", f.toString()).path("versions").size());
        List<Path> mounted = onDemandMounts();
        assertEquals(1, mounted.size(), "the copy was mounted under STATE/previous/fs");
        assertTrue(mounted.getFirst().getFileName().toString()
                .matches("@GMT-\\d{4}\\.\\d\\d\\.\\d\\d-\\d\\d\\.\\d\\d\\.\\d\\d"));
        // a process reading in it keeps it mounted past the idle time
        Process reader = new ProcessBuilder("sleep", "60").directory(mounted.getFirst().toFile()).start();
        try {
            daemon.stop(); // mounts are state: they outlive the daemon and are taken over at start
            assertEquals("old", Files.readString(mounted.getFirst().resolve("x")));
            daemon.start();
            assertEquals("old", Files.readString(mounted.getFirst().resolve("x")));
            // the idle time (3 s) and two ticks of the keeper (2 s each) pass while the reader is in it
            java.time.Instant idlePassed = java.time.Instant.now().plusSeconds(3 + 2 * 2 + 1);
            await(Duration.ofSeconds(20), () -> java.time.Instant.now().isAfter(idlePassed), "the idle time to pass");
            assertTrue(Mounts.isMountPoint(mounted.getFirst()), "a mount in use is never taken away");
            JsonNode shadows = json("list", "shadows").path("shadows");
            assertEquals(mounted.getFirst().toString(), shadows.get(0).path("exposed_path").asText());
        } finally {
            reader.destroyForcibly();
            reader.waitFor();
        }
        await(Duration.ofSeconds(30), () -> {
            try {
                return onDemandMounts().isEmpty();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }, "the idle mount to go");
        assertTrue(json("list", "shadows").path("shadows").get(0).path("exposed_path").isNull());
        assertFalse(Files.exists(mounted.getFirst()), "its mount point is removed");
    }

    @Test
    void aCopyTakenBeforeTheFileSystemExistedIsSkippedAndNamed() throws Exception {
        daemon.cli("volume", "create", "late", "--size", "64M").ok();
        String before = copyOf("late");
        String dev = daemon.cli("volume", "attach", "late").ok().out().trim();
        Path m2 = Files.createDirectories(tmp.resolve("mnt-late"));
        sh("mkfs.ext4 -q -F " + dev + " && mount " + dev + " " + m2).ok();
        try {
            Files.writeString(m2.resolve("f"), "1");
            String after = copyOf("late");
            JsonNode v = json("versions", m2.resolve("f").toString());
            assertEquals(after, v.path("versions").get(0).path("shadow").asText(), v.toString());
            assertEquals(before, v.path("skipped").get(0).path("shadow").asText(), v.toString());
            assertFalse(v.path("skipped").get(0).path("reason").asText().isEmpty());
        } finally {
            sh("umount " + m2).ok();
        }
    }

    @Test
    void aFileOnABtrfsSubvolumeVolumeHasVersionsReadFromItsSnapshotsWithoutMounts() throws Exception {
        Path img = tmp.resolve("btrfs.img");
        sh("truncate -s 300M " + img).ok();
        Host.mkfsBtrfs("-q", img.toString());
        String bl = sh("losetup -f --show " + img).ok().out().strip();
        Path bt = Files.createDirectories(tmp.resolve("btrfs"));
        try {
            sh("mount " + bl + " " + bt + " && btrfs subvolume create " + bt.resolve("data") + " >/dev/null").ok();
            daemon.cli("volume", "create", "bt", "--btrfs-subvolume", bt.resolve("data").toString()).ok();
            Path f = bt.resolve("data/notes.txt");
            Files.writeString(f, "version 1\n");
            String c1 = copyOf("bt");
            Files.writeString(f, "version 2\n");
            String c2 = copyOf("bt");
            JsonNode v = json("versions", f.toString());
            assertEquals("bt", v.path("volume").asText());
            assertEquals(2, v.path("versions").size(), v.toString());
            assertEquals(c2, v.path("versions").get(0).path("shadow").asText());
            assertTrue(v.path("versions").get(0).path("current").asBoolean(), "c2 holds the live content");
            Path restored = Path.of(json("versions", f.toString(), "--restore", c1).path("to").asText());
            assertEquals("version 1\n", Files.readString(restored));
            assertEquals(List.of(), onDemandMounts(), "btrfs snapshots are file trees already: nothing mounted");
        } finally {
            daemon.cli("delete", "shadows", "--all", "--quiet");
            sh("umount " + bt + "; losetup -d " + bl + "; true");
        }
    }

    String copyOf(String volume) throws Exception {
        return json("create", "shadow", "--for", volume, "--nowriters").path("shadows").get(0).path("id").asText();
    }

    @Test
    void badInputIsRefusedClearly() throws Exception {
        Path outside = tmp.resolve("not-on-a-volume.txt");
        Files.writeString(outside, "x");
        DaemonProcess.Result r = daemon.cli("versions", outside.toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("is not on a volume the service copies"), r.err());
        Path f = mnt.resolve("f");
        Files.writeString(f, "1");
        String c = copy();
        daemon.cli("delete", "shadows", "--shadow", c).ok();
        r = daemon.cli("versions", f.toString(), "--restore", c);
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("VSS_E_OBJECT_NOT_FOUND") && r.err().contains(c), r.err());
        String c2 = copy();
        r = daemon.cli("versions", mnt.resolve("never-existed").toString(), "--restore", c2);
        assertTrue(r.exit() == 1 && r.err().contains("did not exist in shadow copy " + c2), r.err());
    }
}
