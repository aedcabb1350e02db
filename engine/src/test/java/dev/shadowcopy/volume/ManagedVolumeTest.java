package dev.shadowcopy.volume;

import static dev.shadowcopy.testing.Segments.bytes;
import static dev.shadowcopy.testing.Segments.filled;
import static dev.shadowcopy.testing.Segments.of;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.OutOfRangeException;
import dev.shadowcopy.device.ReadOnlyException;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Segments;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/** Behaviours every layout shares; layout-specific storage figures are checked where they differ. */
class ManagedVolumeTest {
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
        if (manager != null) {
            manager.close();
        }
    }

    private byte[] read(BlockDevice d, long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        d.read(offset, s);
        return bytes(s);
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void rewriteAfterShadowCopyKeepsOldContentInShadow(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 4L << 20).withLayout(layout));
        v.write(0, of(filled(CHUNK, 'a')), false);
        ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(100, of(filled(1000, 'b')), false);

        assertArrayEquals(filled(CHUNK, 'a'), read(v.shadowCopy(copy.id()), 0, CHUNK));
        byte[] live = read(v, 0, CHUNK);
        assertEquals('b', live[100]);
        assertEquals('a', live[99]);
        assertEquals(CHUNK, v.shadowStorage().used());
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void holeChunksArePreservedAsZeroWithoutStoringData(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 4L << 20).withLayout(layout));
        ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(CHUNK * 3L, of(filled(CHUNK * 2, 'x')), false);
        assertArrayEquals(new byte[CHUNK * 2], read(v.shadowCopy(copy.id()), CHUNK * 3L, CHUNK * 2));
        // copy-on-write stores nothing for a hole; redirect-on-write stores the new data, not the old zeros
        assertEquals(layout == VolumeLayout.COPY_ON_WRITE ? 0 : 2L * CHUNK, v.shadowStorage().used());
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void oneSavedCopyServesEveryShadowCopyTakenBeforeTheWrite(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 4L << 20).withLayout(layout));
        v.write(0, of(filled(CHUNK, 'a')), false);
        List<ShadowCopyInfo> copies = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            copies.add(v.createShadowCopy(ShadowCopyId.random(), true));
        }
        v.write(0, of(filled(CHUNK, 'b')), false);
        assertEquals(CHUNK, v.shadowStorage().used(), "one chunk stored, whatever the number of copies");
        for (ShadowCopyInfo c : copies) {
            assertArrayEquals(filled(CHUNK, 'a'), read(v.shadowCopy(c.id()), 0, CHUNK));
        }
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void deletingTheMiddleCopyKeepsTheOthersExact(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 1L << 20).withLayout(layout));
        List<ShadowCopyInfo> copies = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            v.write(0, of(filled(CHUNK, 'a' + i)), false);
            copies.add(v.createShadowCopy(ShadowCopyId.random(), true));
        }
        v.write(0, of(filled(CHUNK, 'z')), false);
        assertTrue(v.deleteShadowCopy(copies.get(1).id()));
        assertArrayEquals(filled(CHUNK, 'a'), read(v.shadowCopy(copies.get(0).id()), 0, CHUNK));
        assertArrayEquals(filled(CHUNK, 'c'), read(v.shadowCopy(copies.get(2).id()), 0, CHUNK));
        if (layout == VolumeLayout.COPY_ON_WRITE) {
            assertEquals(2L * CHUNK, v.shadowStorage().used());
        }
        v.deleteShadowCopy(copies.get(0).id());
        v.deleteShadowCopy(copies.get(2).id());
        // redirect-on-write frees slots after the next commit, and live data moves back to the base in the
        // background: wait (bounded) for it
        long deadline = System.nanoTime() + 30_000_000_000L;
        do {
            v.flush();
            assertTrue(System.nanoTime() < deadline, "shadow storage still used after 30 s");
        } while (v.shadowStorage().used() > 0);
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void revertMakesTheLiveVolumeTheCopyAndDeletesLaterCopies(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 1L << 20).withLayout(layout));
        v.write(0, of(filled(CHUNK, 'a')), false);
        ShadowCopyInfo first = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(CHUNK, 'b')), false);
        v.write(CHUNK, of(filled(CHUNK, 'b')), false);
        ShadowCopyInfo second = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(CHUNK, 'c')), false);

        v.revert(first.id());
        assertArrayEquals(filled(CHUNK, 'a'), read(v, 0, CHUNK));
        assertArrayEquals(new byte[CHUNK], read(v, CHUNK, CHUNK));
        assertEquals(List.of(first.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        assertThrows(VolumeException.class, () -> v.shadowCopy(second.id()));
        // the reverted-to copy is still exact, and new writes preserve for it again
        v.write(0, of(filled(CHUNK, 'd')), false);
        assertArrayEquals(filled(CHUNK, 'a'), read(v.shadowCopy(first.id()), 0, CHUNK));
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void fullShadowStorageReleasesTheOldestCopyAndTheWriteSucceeds(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 8L << 20).withLayout(layout)
                .withShadowStorage(ShadowStorageLimit.ofBytes(1L << 20)));
        byte[] data = Segments.random(8 << 20, 1);
        v.write(0, of(data), false);
        ShadowCopyInfo old = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(1 << 20, 'q')), false); // 16 chunks: fills the 1 MiB exactly
        ShadowCopyInfo newer = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(2 << 20, of(filled(CHUNK, 'r')), false); // needs room: the oldest copy goes
        assertEquals(List.of(newer.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        byte[] expected = java.util.Arrays.copyOfRange(data, 2 << 20, (2 << 20) + CHUNK);
        assertArrayEquals(expected, read(v.shadowCopy(newer.id()), 2 << 20, CHUNK));
        assertArrayEquals(filled(CHUNK, 'r'), read(v, 2 << 20, CHUNK));
        assertTrue(old.sequence() < newer.sequence());
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void persistentCopiesSurviveReopenAndNonPersistentOnesAreReleased(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 1L << 20).withLayout(layout));
        v.write(0, of(filled(CHUNK, 'a')), false);
        ShadowCopyInfo kept = v.createShadowCopy(ShadowCopyId.random(), true);
        ShadowCopyInfo dropped = v.createShadowCopy(ShadowCopyId.random(), false);
        v.write(0, of(filled(CHUNK, 'b')), false);
        manager.close();

        manager = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE);
        ManagedVolume again = manager.get("vol");
        assertEquals(List.of(kept.id()), again.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        assertArrayEquals(filled(CHUNK, 'a'), read(again.shadowCopy(kept.id()), 0, CHUNK));
        assertArrayEquals(filled(CHUNK, 'b'), read(again, 0, CHUNK));
        assertThrows(VolumeException.class, () -> again.shadowCopy(dropped.id()));
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void outOfRangeRequestsAreRefusedBeforeAnythingIsWritten(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 1L << 20).withLayout(layout));
        assertThrows(OutOfRangeException.class, () -> v.write((1L << 20) - 10, of(new byte[11]), false));
        assertThrows(OutOfRangeException.class, () -> v.read(-1, Segments.allocate(1)));
        assertThrows(OutOfRangeException.class, () -> v.trim(0, (1L << 20) + 1, false));
        assertThrows(OutOfRangeException.class, () -> v.writeZeroes(Long.MAX_VALUE, 2, true, false));
        assertArrayEquals(new byte[16], read(v, (1L << 20) - 16, 16));
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void shadowCopiesAreReadOnly(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 1L << 20).withLayout(layout));
        ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
        ShadowCopyDevice d = v.shadowCopy(copy.id());
        assertThrows(ReadOnlyException.class, () -> d.write(0, of(new byte[1]), false));
        assertThrows(ReadOnlyException.class, () -> d.trim(0, 512, false));
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void fiveHundredTwelveCopiesPerVolumeAndThenAClearError(VolumeLayout layout) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 1L << 20).withLayout(layout));
        for (int i = 0; i < 512; i++) {
            v.write((i % 16) * (long) CHUNK, of(filled(512, i)), false);
            v.createShadowCopy(ShadowCopyId.random(), true);
        }
        VolumeException e = assertThrows(VolumeException.class, () -> v.createShadowCopy(ShadowCopyId.random(), true));
        assertEquals(VolumeException.Code.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, e.code());
    }
}
