package dev.shadowcopy.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.nbd.attach.Attachment;
import dev.shadowcopy.nbd.attach.Exposer;
import dev.shadowcopy.nbd.attach.LocalAttacher;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The full kernel path: a volume attached as a loop device (nbdfuse + losetup), ext4 made and mounted on it,
 * files written, a shadow copy taken while a writer keeps writing (no freeze: the copy has a dirty journal),
 * the copy exposed read-only through a scratch overlay, the old files read back, and fsck clean on the copy.
 */
class KernelPathTest {
    @TempDir
    Path dir;
    NbdFixture nbd;
    LocalAttacher attacher;
    Exposer exposer;
    Path live;

    @BeforeEach
    void start() throws IOException {
        Host.requireRoot();
        for (String p : List.of("nbdfuse", "losetup", "mkfs.ext4", "e2fsck", "mount", "fusermount3")) {
            Host.requireProgram(p);
        }
        nbd = new NbdFixture(dir);
        attacher = new LocalAttacher(dir, nbd.server.unixSocket());
        exposer = new Exposer(dir, nbd.exports, attacher);
        live = dir.resolve("live");
    }

    @AfterEach
    void stop() throws IOException {
        exposer.unexposeAll();
        try {
            Host.run("umount", live.toString());
        } catch (IOException notMounted) {
            // the test may have failed before mounting
        }
        attacher.detachAll();
        nbd.close();
    }

    @Test
    void attachMkfsMountCopyWhileWritingExposeReadOldFilesAndFsckClean() throws Exception {
        ManagedVolume vol = nbd.volumes.create(VolumeConfig.sparse("data", 256L << 20));
        Attachment a = attacher.attach("data", false);
        assertTrue(a.loopDevice().startsWith("/dev/loop"), a.loopDevice());
        Host.run("mkfs.ext4", "-q", "-F", a.loopDevice());
        Files.createDirectories(live);
        Host.run("mount", a.loopDevice(), live.toString());

        Map<String, byte[]> before = new LinkedHashMap<>();
        for (int i = 0; i < 20; i++) {
            byte[] content = Segments.random(50_000 + i * 7_919, i);
            before.put("file-" + i, content);
            Files.write(live.resolve("file-" + i), content);
        }
        Host.run("sync", "-f", live.toString()); // the files are on the volume before the instant

        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong appended = new AtomicLong();
        AtomicReference<Throwable> writerError = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            try {
                byte[] block = Segments.random(64 * 1024, 77);
                while (!stop.get()) {
                    Files.write(live.resolve("busy.log"), block, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    Files.write(live.resolve("file-3"), block); // old files change after the copy too
                    appended.incrementAndGet();
                }
            } catch (Throwable t) {
                writerError.set(t);
            }
        });
        writer.start();
        try {
            copyWhileWritingAndExpose(vol, before, appended, writerError, stop);
        } finally {
            stop.set(true);
            writer.join(30_000);
        }
        assertEquals(null, writerError.get());
        assertFalse(java.util.Arrays.equals(before.get("file-3"), Files.readAllBytes(live.resolve("file-3"))),
                "the live file changed after the copy");
        Host.run("umount", live.toString());
        Host.run("e2fsck", "-fn", a.loopDevice()); // the live file system is fine too
        attacher.detach("data");
        assertTrue(attacher.list().isEmpty());
    }

    private void copyWhileWritingAndExpose(ManagedVolume vol, Map<String, byte[]> before, AtomicLong appended,
                                           AtomicReference<Throwable> writerError, AtomicBoolean stop)
            throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (appended.get() < 20) {
            assertTrue(System.nanoTime() < deadline, "the writer made no progress");
            Thread.onSpinWait();
        }
        ShadowCopyInfo copy = vol.createShadowCopy(ShadowCopyId.random(), true); // no freeze: crash-consistent
        long atCopy = appended.get();
        while (appended.get() < atCopy + 20) {
            assertTrue(System.nanoTime() < deadline, "the writer stopped after the copy");
            Thread.onSpinWait();
        }

        Path snap = dir.resolve("snap");
        Exposer.Exposure e = exposer.expose(vol.shadowCopy(copy.id()), snap);
        for (var entry : before.entrySet()) {
            if (!entry.getKey().equals("file-3")) {
                assertArrayEquals(entry.getValue(), Files.readAllBytes(snap.resolve(entry.getKey())),
                        entry.getKey() + " in the copy");
            }
        }
        // (busy.log was never fsynced before the instant: a crash-consistent copy may or may not have it)
        assertEquals(null, writerError.get());

        // fsck the copy (as replayed into the scratch layer): clean
        Host.run("umount", snap.toString());
        Host.run("e2fsck", "-fn", e.attachment().loopDevice());
        Host.run("mount", "-o", "ro", e.attachment().loopDevice(), snap.toString());
        exposer.unexpose(copy.id());
    }

    @Test
    void attachmentsLeftByACrashedServiceAreCleanedUp() throws Exception {
        nbd.volumes.create(VolumeConfig.sparse("left", 16L << 20));
        Attachment a = attacher.attach("left", true);
        assertEquals("ro", Host.run("losetup", "--noheadings", "-O", "RO", a.loopDevice()).strip().equals("1")
                ? "ro" : "rw");
        // a new service on the same state directory, as after a crash: the record says what to undo
        LocalAttacher next = new LocalAttacher(dir, nbd.server.unixSocket());
        List<Attachment> cleaned = next.cleanupStale();
        assertEquals(1, cleaned.size());
        String still = Host.run("losetup", "--noheadings", "-O", "NAME", "-j", a.fuseFile().toString()).strip();
        assertEquals("", still, "the loop device is gone");
        assertFalse(Files.exists(a.fuseDir()));
        attacher = next; // the old instance's process is gone with the mount
    }
}
