package dev.shadowcopy.volume;

import static dev.shadowcopy.testing.Segments.bytes;
import static dev.shadowcopy.testing.Segments.filled;
import static dev.shadowcopy.testing.Segments.of;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Segments;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What sets redirect-on-write apart: originals stay put, revert copies nothing, deletion merges back. */
class RedirectOnWriteTest {
    private static final int CHUNK = 64 * 1024;
    @TempDir
    Path dir;
    VolumeManager manager;

    @BeforeEach
    void open() throws IOException {
        manager = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE);
    }

    @AfterEach
    void close() throws IOException {
        manager.close();
    }

    private ManagedVolume volume(long size) throws IOException {
        return manager.create(VolumeConfig.sparse("row", size).withLayout(VolumeLayout.REDIRECT_ON_WRITE));
    }

    private static byte[] read(BlockDevice d, long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        d.read(offset, s);
        return bytes(s);
    }

    private byte[] baseFile(long offset, int length) throws IOException {
        byte[] all = Files.readAllBytes(dir.resolve("volumes/row/data.img"));
        return java.util.Arrays.copyOfRange(all, (int) offset, (int) offset + length);
    }

    @Test
    void writesAfterACopyLeaveTheOriginalChunksInPlace() throws IOException {
        ManagedVolume v = volume(1L << 20);
        v.write(0, of(filled(4 * CHUNK, 'o')), true);
        v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(CHUNK, of(filled(2 * CHUNK, 'n')), true);
        assertArrayEquals(filled(4 * CHUNK, 'o'), baseFile(0, 4 * CHUNK), "the base still holds the copy");
        assertArrayEquals(filled(2 * CHUNK, 'n'), read(v, CHUNK, 2 * CHUNK));
        assertEquals(2L * CHUNK, v.shadowStorage().used(), "the new data went to shadow storage");
    }

    @Test
    void revertIsInstantAndCopiesNoData() throws IOException {
        ManagedVolume v = volume(1L << 20);
        v.write(0, of(filled(8 * CHUNK, 'o')), true);
        ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(8 * CHUNK, 'n')), true);
        long usedBefore = v.shadowStorage().used();
        v.revert(copy.id());
        assertArrayEquals(filled(8 * CHUNK, 'o'), read(v, 0, 8 * CHUNK));
        assertArrayEquals(filled(8 * CHUNK, 'o'), baseFile(0, 8 * CHUNK), "nothing was copied back: it never left");
        v.flush();
        assertTrue(v.shadowStorage().used() < usedBefore, "the redirected data was freed");
        // the copy survives the revert and new writes keep it intact
        v.write(0, of(filled(CHUNK, 'x')), true);
        assertArrayEquals(filled(8 * CHUNK, 'o'), read(v.shadowCopy(copy.id()), 0, 8 * CHUNK));
    }

    @Test
    void deletingTheLastCopyMergesLiveDataBackIntoTheBase() throws Exception {
        ManagedVolume v = volume(1L << 20);
        v.write(0, of(filled(8 * CHUNK, 'o')), true);
        ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(8 * CHUNK, 'n')), true);
        assertEquals(8L * CHUNK, v.shadowStorage().used());
        v.deleteShadowCopy(copy.id());
        awaitMerged(v); // the merge runs in the background
        assertArrayEquals(filled(8 * CHUNK, 'n'), baseFile(0, 8 * CHUNK), "live data is back in the base");
        assertArrayEquals(filled(8 * CHUNK, 'n'), read(v, 0, 8 * CHUNK));
    }

    /** Waits (bounded) for the background merge to empty shadow storage. */
    private static void awaitMerged(ManagedVolume v) throws IOException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (v.shadowStorage().used() > 0) {
            assertTrue(System.nanoTime() < deadline, "merge did not finish in 30 s");
            v.flush();
            Thread.onSpinWait();
        }
    }

    @Test
    void aMergeHeldBackByACreationResumesWhenTheCreationEndsEitherWay() throws Exception {
        ManagedVolume v = volume(1L << 20);
        v.write(0, of(filled(8 * CHUNK, 'o')), true);
        ShadowCopyInfo first = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(8 * CHUNK, 'n')), true);
        // the merge this deletion asks for waits while a creation is between prepare and its end
        var abandoned = v.prepareShadowCopy(ShadowCopyId.random(), true);
        v.deleteShadowCopy(first.id());
        v.abortShadowCopy(abandoned);
        awaitMerged(v);
        assertArrayEquals(filled(8 * CHUNK, 'n'), baseFile(0, 8 * CHUNK));

        ShadowCopyInfo second = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(8 * CHUNK, 'm')), true);
        var pending = v.prepareShadowCopy(ShadowCopyId.random(), true);
        v.deleteShadowCopy(second.id());
        try (WriteHold hold = v.holdWrites(java.time.Duration.ofSeconds(10))) {
            v.commitShadowCopy(pending, hold);
        }
        ShadowCopyInfo third = v.completeShadowCopy(pending);
        v.abortShadowCopy(pending); // allowed after completion; must not count the creation's end twice
        v.deleteShadowCopy(third.id());
        awaitMerged(v);
        assertArrayEquals(filled(8 * CHUNK, 'm'), baseFile(0, 8 * CHUNK));
        assertArrayEquals(filled(8 * CHUNK, 'm'), read(v, 0, 8 * CHUNK));
    }

    @Test
    void aCopyReadsFromTheBaseAfterReopen() throws IOException {
        ManagedVolume v = volume(1L << 20);
        v.write(0, of(filled(4 * CHUNK, 'o')), true);
        ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(4 * CHUNK, 'n')), false);
        manager.close();
        manager = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE);
        ManagedVolume again = manager.get("row");
        assertEquals(VolumeLayout.REDIRECT_ON_WRITE, again.config().layout());
        assertArrayEquals(filled(4 * CHUNK, 'o'), read(again.shadowCopy(copy.id()), 0, 4 * CHUNK));
        assertArrayEquals(filled(4 * CHUNK, 'n'), read(again, 0, 4 * CHUNK));
    }
}
