package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several providers behind one sequence: a copy-on-write, a redirect-on-write and a reflink volume (its backing
 * on a real XFS with reflink=1) in one set, `list providers` showing who serves what, `--provider` refusing a
 * volume its provider does not serve, and the reflink copies read, exposed, reverted and backed up.
 */
class ProvidersIntegrationTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;
    String loop;
    Path xfs;

    @BeforeEach
    void start() throws Exception {
        Path img = tmp.resolve("xfs.img");
        sh("truncate -s 400M " + img + " && mkfs.xfs -q -m reflink=1 " + img).ok();
        loop = sh("losetup -f --show " + img).ok().out().strip();
        xfs = Files.createDirectories(tmp.resolve("xfs"));
        sh("mount " + loop + " " + xfs).ok();
        daemon = new DaemonProcess(tmp.resolve("state")).start();
    }

    @AfterEach
    void stop() throws Exception {
        sh("umount " + tmp.resolve("mnt") + " 2>/dev/null; true");
        daemon.cli("volume", "detach", "rf");
        daemon.close();
        sh("umount " + xfs + "; losetup -d " + loop + "; true");
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

    /** Creates a set, retrying while a split mirror resynchronises (exit 75: retryable), within a bound. */
    JsonNode createRetrying(String volumes) throws Exception {
        long end = System.nanoTime() + 60_000_000_000L;
        while (true) {
            DaemonProcess.Result r = daemon.cli("create", "shadow", "--for", volumes, "--nowriters", "--json");
            if (r.exit() == 0) {
                return Json.MAPPER.readTree(r.out());
            }
            assertTrue(r.exit() == 75 && r.err().contains("RESYNC_IN_PROGRESS"), r.err());
            if (System.nanoTime() > end) {
                throw new AssertionError("the mirror never came back in step: " + r.err());
            }
            Thread.sleep(100);
        }
    }

    @Test
    void oneSetAcrossFourLayoutsAndThreeProviders() throws Exception {
        Path backing = xfs.resolve("rf.img");
        sh("truncate -s 128M " + backing).ok();
        daemon.cli("volume", "create", "rf", "--backing", backing.toString(), "--layout", "reflink").ok();
        daemon.cli("volume", "create", "cw", "--size", "64M").ok();
        daemon.cli("volume", "create", "rw", "--size", "64M", "--layout", "row").ok();
        daemon.cli("volume", "create", "mr", "--size", "64M", "--layout", "mirror").ok();
        for (String v : new String[] {"rf", "cw", "rw", "mr"}) {
            sh("qemu-io -f raw -c 'write -P 0x41 0 1M' '" + nbd(v) + "'").ok();
        }
        JsonNode providers = json("list", "providers").path("providers");
        assertEquals(4, providers.size(), providers.toString());
        String table = daemon.cli("list", "providers").ok().out();
        assertTrue(table.contains("shadowcopy-reflink") && table.contains("rf") && table.contains("cw,rw")
                && table.contains("shadowcopy-mirror"), table);

        JsonNode set = createRetrying("rf,cw,rw,mr"); // the mirror may still be resynchronising its first copy
        assertEquals(4, set.path("shadows").size());
        String created = set.path("shadows").get(0).path("created").asText();
        for (JsonNode s : set.path("shadows")) {
            assertEquals(created, s.path("created").asText(), "one instant for the whole set");
            String expected = switch (s.path("volume").asText()) {
                case "rf" -> "shadowcopy-reflink";
                case "mr" -> "shadowcopy-mirror";
                default -> "shadowcopy-software";
            };
            assertEquals(expected, s.path("provider").asText());
            assertEquals(s.path("volume").asText().equals("mr"), s.path("attribute_names").toString().contains("Plex"));
        }
        for (String v : new String[] {"rf", "cw", "rw", "mr"}) {
            sh("qemu-io -f raw -c 'write -P 0x42 0 1M' '" + nbd(v) + "'").ok();
        }
        for (JsonNode s : set.path("shadows")) {
            sh("qemu-io -f raw -r -c 'read -P 0x41 0 1M' '" + nbd("shadow/" + s.path("id").asText()) + "'").ok();
        }
        DaemonProcess.Result wrong = daemon.cli("create", "shadow", "--for", "rf,cw", "--provider", "shadowcopy-reflink",
                "--nowriters");
        assertNotEquals(0, wrong.exit());
        assertTrue(wrong.err().contains("VOLUME_NOT_SUPPORTED_BY_PROVIDER") && wrong.err().contains("cw"), wrong.err());
        DaemonProcess.Result unknown = daemon.cli("create", "shadow", "--for", "rf", "--provider", "lvm", "--nowriters");
        assertTrue(unknown.err().contains("PROVIDER_NOT_REGISTERED"), unknown.err());
        json("create", "shadow", "--for", "rf", "--provider", "shadowcopy-reflink", "--nowriters");

        // The reflink copy: backed up (no change tracking: every backup reads everything, says why), reverted.
        Path repo = tmp.resolve("repo");
        daemon.cli("backup", "--for", "rf", "--repo", repo.toString()).ok();
        JsonNode second = json("backup", "--for", "rf", "--repo", repo.toString());
        JsonNode v = second.path("backup").path("volumes").get(0);
        assertEquals("full-rescan", v.path("mode").asText());
        assertTrue(v.path("reason").asText().contains("change tracking"), v.toString());
        assertEquals(0, v.path("new_chunks").asLong(), "nothing changed: nothing new stored");
        String rfCopy = null;
        for (JsonNode s : set.path("shadows")) {
            if (s.path("volume").asText().equals("rf")) {
                rfCopy = s.path("id").asText();
            }
        }
        daemon.cli("revert", "--shadow", rfCopy).ok();
        sh("qemu-io -f raw -r -c 'read -P 0x41 0 1M' '" + nbd("rf") + "'").ok();
    }

    @Test
    void ext4OnAReflinkVolumeOnXfsIsFrozenForTheCloneAndCleanInTheCopy() throws Exception {
        Path backing = xfs.resolve("fs.img");
        sh("truncate -s 128M " + backing).ok();
        daemon.cli("volume", "create", "rfs", "--backing", backing.toString(), "--layout", "reflink").ok();
        String dev = daemon.cli("volume", "attach", "rfs").ok().out().strip();
        Path mnt = Files.createDirectories(tmp.resolve("rfs"));
        try {
            sh("mkfs.ext4 -q -F " + dev + " && mount " + dev + " " + mnt).ok();
            Path hooks = Files.createDirectories(daemon.state.resolve("hooks"));
            Path events = tmp.resolve("hook-events");
            Files.writeString(hooks.resolve("app"), "#!/bin/bash\necho \"$1\" >> " + events + "\nexit 0\n");
            hooks.resolve("app").toFile().setExecutable(true);
            sh("for i in $(seq 200); do echo line $i >> " + mnt + "/log; done; sync").ok();
            Process w = new ProcessBuilder("bash", "-c", "i=0; while true; do i=$((i+1)); echo more $i >> " + mnt
                    + "/log; done").start();
            try {
                JsonNode set = json("create", "shadow", "--for", "rfs");
                assertEquals("application", set.path("shadows").get(0).path("consistency").asText());
                assertTrue(Files.readString(events).contains("freeze"));
                Path copy = tmp.resolve("rfs-copy.img");
                sh("nbdcopy '" + nbd("shadow/" + set.path("shadows").get(0).path("id").asText()) + "' " + copy).ok();
                String header = sh("dumpe2fs -h " + copy + " 2>/dev/null").ok().out();
                assertTrue(!header.contains("needs_recovery"), "frozen at the clone: the journal is clean\n" + header);
                sh("e2fsck -fn " + copy).ok();
            } finally {
                w.destroyForcibly();
            }
        } finally {
            sh("umount " + mnt + "; true");
            daemon.cli("volume", "detach", "rfs");
        }
    }

    @Test
    void btrfsSubvolumesGetReadOnlySnapshotsInTheSameSets() throws Exception {
        Path img = tmp.resolve("btrfs.img");
        sh("truncate -s 300M " + img).ok();
        Host.mkfsBtrfs("-q", img.toString());
        String bl = sh("losetup -f --show " + img).ok().out().strip();
        Path bt = Files.createDirectories(tmp.resolve("btrfs"));
        try {
            sh("mount " + bl + " " + bt + " && btrfs subvolume create " + bt.resolve("data") + " >/dev/null").ok();
            Files.writeString(bt.resolve("data/file"), "version 1\n");
            DaemonProcess.Result notSub = daemon.cli("volume", "create", "nope", "--btrfs-subvolume", tmp.toString());
            assertTrue(notSub.exit() != 0 && notSub.err().contains("not a btrfs subvolume"), notSub.err());
            daemon.cli("volume", "create", "bt", "--btrfs-subvolume", bt.resolve("data").toString()).ok();
            daemon.cli("volume", "create", "cw", "--size", "64M").ok();
            String vols = daemon.cli("list", "volumes").ok().out();
            assertTrue(vols.contains("bt") && vols.contains("btrfs"), vols);
            assertTrue(daemon.cli("list", "providers").ok().out().contains("shadowcopy-btrfs"));

            // With a writer: frozen and thawed around the one commit window that takes both copies.
            Path hooks = Files.createDirectories(daemon.state.resolve("hooks"));
            Path events = tmp.resolve("hook-events");
            Files.writeString(hooks.resolve("app"), "#!/bin/bash\necho \"$1\" >> " + events + "\nexit 0\n");
            hooks.resolve("app").toFile().setExecutable(true);
            JsonNode set = json("create", "shadow", "--for", "bt,cw");
            assertEquals(2, set.path("shadows").size());
            assertEquals("application", set.path("shadows").get(0).path("consistency").asText(), set.toString());
            String seen = Files.readString(events);
            assertTrue(seen.contains("freeze") && seen.contains("thaw") && seen.indexOf("freeze") < seen.indexOf("thaw"),
                    seen);
            String id = null;
            for (JsonNode c : set.path("shadows")) {
                if (c.path("volume").asText().equals("bt")) {
                    id = c.path("id").asText();
                    assertEquals("shadowcopy-btrfs", c.path("provider").asText());
                }
            }
            Files.writeString(bt.resolve("data/file"), "version 2\n");
            String snaps = sh("btrfs subvolume list -r " + bt).ok().out();
            assertTrue(snaps.contains(id), "a read-only btrfs snapshot named after the copy:\n" + snaps);

            Path mnt = tmp.resolve("mnt");
            daemon.cli("expose", id, "--mount", mnt.toString()).ok();
            assertEquals("version 1\n", Files.readString(mnt.resolve("file")));
            assertNotEquals(0, sh("touch " + mnt + "/x").exit(), "the exposed snapshot is read-only");
            daemon.cli("unexpose", id).ok();

            DaemonProcess.Result revert = daemon.cli("revert", "--shadow", id);
            assertTrue(revert.exit() != 0 && revert.err().contains("btrfs"), revert.err());
            DaemonProcess.Result backup = daemon.cli("backup", "--for", "bt", "--repo", tmp.resolve("r").toString());
            assertTrue(backup.exit() != 0 && backup.err().contains("file tree"), backup.err());
            DaemonProcess.Result wrong = daemon.cli("create", "shadow", "--for", "bt", "--provider",
                    "shadowcopy-software", "--nowriters");
            assertTrue(wrong.err().contains("VOLUME_NOT_SUPPORTED_BY_PROVIDER"), wrong.err());

            // Survives a restart of the service; deleting the copy deletes the snapshot.
            daemon.stop();
            daemon.start();
            assertTrue(daemon.cli("list", "shadows").ok().out().contains(id));
            daemon.cli("delete", "shadows", "--shadow", id, "--quiet").ok();
            assertTrue(!sh("btrfs subvolume list -r " + bt).ok().out().contains(id), "the snapshot is gone");
        } finally {
            daemon.cli("delete", "shadows", "--all", "--quiet");
            sh("umount " + bt + "; losetup -d " + bl + "; true");
        }
    }
}
