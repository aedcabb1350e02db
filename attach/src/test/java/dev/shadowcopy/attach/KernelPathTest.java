package dev.shadowcopy.attach;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.attach.keep.HolderStore;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
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
import org.junit.jupiter.api.Tag;

/**
 * The full kernel path: a volume attached as a loop device over our FUSE server, ext4 made and mounted on it,
 * files written, a shadow copy taken while a writer keeps writing (no freeze: the copy has a dirty journal),
 * the copy exposed read-only through a durable scratch overlay, the old files read back, fsck clean on the
 * copy and on the live file system.
 */
@Tag("host")
class KernelPathTest {
    @TempDir
    Path dir;
    VolumeManager volumes;
    Attacher attacher;
    Exposer exposer;
    Path live;

    @BeforeEach
    void start() throws Exception {
        Host.requireRoot();
        for (String p : List.of("losetup", "mkfs.ext4", "e2fsck", "mount")) {
            Host.requireProgram(p);
        }
        volumes = VolumeManager.open(dir.resolve("volumes"), new VolumeEvents() { });
        attacher = new Attacher(dir, new HolderStore(dir.resolve("holder.sock"), dir.resolve("holder.log")));
        attacher.start(k -> null, p -> false);
        exposer = new Exposer(dir, attacher);
        live = dir.resolve("live");
    }

    @AfterEach
    void stop() throws Exception {
        for (Exposer.Exposure e : exposer.list()) {
            exposer.unexpose(e.copy(), true);
        }
        Host.run("bash", "-c", "umount " + live + " 2>/dev/null; true");
        for (Attachment a : attacher.list()) {
            attacher.detach(a.key(), true);
        }
        attacher.close();
        volumes.close();
    }

    @Test
    void attachMkfsMountCopyWhileWritingExposeReadOldFilesAndFsckClean() throws Exception {
        ManagedVolume vol = volumes.create(VolumeConfig.sparse("data", 256L << 20));
        Attachment a = attacher.attach("volume/data", vol, false);
        assertTrue(a.loopDevice().startsWith("/dev/loop"), a.loopDevice());
        assertEquals("fuse", a.path());
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
            copyWhileWritingAndExpose(vol, before, appended, writerError);
        } finally {
            stop.set(true);
            writer.join(30_000);
        }
        assertEquals(null, writerError.get());
        assertFalse(java.util.Arrays.equals(before.get("file-3"), Files.readAllBytes(live.resolve("file-3"))),
                "the live file changed after the copy");
        Host.run("umount", live.toString());
        Host.run("e2fsck", "-fn", a.loopDevice()); // the live file system is fine too
        attacher.detach("volume/data", false);
        assertTrue(attacher.list().isEmpty());
    }

    private void copyWhileWritingAndExpose(ManagedVolume vol, Map<String, byte[]> before, AtomicLong appended,
                                           AtomicReference<Throwable> writerError) throws Exception {
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
        Exposer.Exposure e = exposer.expose(copy.id(), vol.shadowCopy(copy.id()), snap);
        for (var entry : before.entrySet()) {
            if (!entry.getKey().equals("file-3")) {
                assertArrayEquals(entry.getValue(), Files.readAllBytes(snap.resolve(entry.getKey())),
                        entry.getKey() + " in the copy");
            }
        }
        // (busy.log was never fsynced before the instant: a crash-consistent copy may or may not have it)
        assertEquals(null, writerError.get());
        assertTrue(Files.exists(dir.resolve("overlays").resolve(copy.id() + ".map")), "the overlay map is durable");

        // fsck the copy (as replayed into the scratch layer): clean
        Host.run("umount", snap.toString());
        Host.run("e2fsck", "-fn", e.attachment().loopDevice());
        Host.run("mount", "-o", "ro", e.attachment().loopDevice(), snap.toString());
        exposer.unexpose(copy.id(), false);
        assertFalse(Files.exists(dir.resolve("overlays").resolve(copy.id() + ".map")), "unexpose discards it");
    }
}
