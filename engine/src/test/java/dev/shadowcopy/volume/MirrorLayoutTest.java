package dev.shadowcopy.volume;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The split-mirror layout: writes during the background resync land in the new mirror exactly once (the split
 * after it equals the volume), splits are full independent images (readable with the engine gone and the
 * volume's backing destroyed), a split during a resync is refused as retryable, and copies survive a reopen
 * and a revert.
 */
class MirrorLayoutTest {
    static final long SIZE = 48L << 20;

    @TempDir
    Path dir;

    static void scribble(ManagedVolume v, Random r, byte[] model, int n) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            for (int i = 0; i < n; i++) {
                int len = 1 + r.nextInt(300_000);
                int off = r.nextInt((int) SIZE - len);
                byte[] b = new byte[len];
                r.nextBytes(b);
                System.arraycopy(b, 0, model, off, len);
                MemorySegment s = a.allocate(len);
                MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, len);
                v.write(off, s, false);
            }
        }
    }

    static byte[] read(BlockDevice d) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(d.size());
            d.read(0, s);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Splits as soon as the mirror is in step again; refused splits must say "resynchronising". */
    static ShadowCopyInfo split(ManagedVolume v, int[] refused) throws Exception {
        long end = System.nanoTime() + 60_000_000_000L;
        while (true) {
            try {
                return v.createShadowCopy(ShadowCopyId.random(), true);
            } catch (VolumeException e) {
                assertEquals(VolumeException.Code.RESYNC_IN_PROGRESS, e.code(), e.getMessage());
                assertTrue(e.getMessage().contains("resynchronising"), e.getMessage());
                refused[0]++;
                if (System.nanoTime() > end) {
                    throw e;
                }
                Thread.sleep(2);
            }
        }
    }

    @Test
    void splitsAreExactIndependentImagesAndResyncKeepsUpWithWrites() throws Exception {
        // Slow resyncs (200 MB/s: 48 MiB takes a quarter second), so that writes and split attempts meet them.
        System.setProperty("shadowcopy.mirror.resync-mb-per-s", "200");
        Random r = new Random(3);
        byte[] model = new byte[(int) SIZE];
        List<byte[]> expected = new ArrayList<>();
        List<ShadowCopyId> ids = new ArrayList<>();
        int[] refused = {0};
        try (VolumeManager m = VolumeManager.open(dir.resolve("state"), VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.sparse("m", SIZE).withLayout(VolumeLayout.SPLIT_MIRROR));
            r.nextBytes(model); // all data: a resync takes long enough to be caught in the act
            try (Arena a = Arena.ofConfined()) {
                MemorySegment s = a.allocate(SIZE);
                MemorySegment.copy(model, 0, s, ValueLayout.JAVA_BYTE, 0, (int) SIZE);
                v.write(0, s, false);
            }
            for (int round = 0; round < 4; round++) {
                scribble(v, r, model, 30); // partly while the mirror is still resynchronising
                ShadowCopyInfo c = split(v, refused);
                ids.add(c.id());
                expected.add(model.clone());
                try { // at once: the new mirror has barely started
                    v.createShadowCopy(ShadowCopyId.random(), true);
                    throw new AssertionError("a split while the mirror resynchronises must be refused");
                } catch (VolumeException e) {
                    assertTrue(e.getMessage().contains("resynchronising"), e.getMessage());
                    refused[0]++;
                }
                scribble(v, r, model, 30); // right after a split: the new mirror is being built
            }
            assertTrue(refused[0] > 0, "some split met a resync in progress (writes overlapped it)");
            for (int i = 0; i < ids.size(); i++) {
                assertArrayEquals(expected.get(i), read(v.shadowCopy(ids.get(i))), "split " + i);
            }
            assertArrayEquals(model, read(v));
            assertTrue(v.deleteShadowCopy(ids.get(1)));
        }
        // Reopened: the splits are there; the mirror resynchronises; a revert brings a split back.
        try (VolumeManager m = VolumeManager.open(dir.resolve("state"), VolumeEvents.NONE)) {
            ManagedVolume v = m.get("m");
            assertEquals(3, v.shadowCopies().size());
            assertArrayEquals(expected.get(3), read(v.shadowCopy(ids.get(3))));
            assertArrayEquals(expected.get(0), read(v.shadowCopy(ids.get(0))), "split 0 after reopen");
            v.revert(ids.get(2));
            assertArrayEquals(expected.get(2), read(v));
            assertEquals(2, v.shadowCopies().size());
            ShadowCopyInfo again = split(v, refused);
            assertArrayEquals(expected.get(2), read(v.shadowCopy(again.id())));
        }
        // Independent: the split is a plain image file, whole without the engine and without the volume's data.
        Path volumeDir = dir.resolve("state").resolve("m");
        try (var s = Files.walk(volumeDir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().equals("data.img")).toList()) {
                Files.write(p, new byte[0]); // the origin is lost
            }
        }
        Path split0 = volumeDir.resolve("meta").resolve("mirror").resolve(ids.get(0) + ".img");
        assertArrayEquals(expected.get(0), Files.readAllBytes(split0));
        System.clearProperty("shadowcopy.mirror.resync-mb-per-s");
    }
}
