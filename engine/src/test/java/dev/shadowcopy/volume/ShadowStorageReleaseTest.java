package dev.shadowcopy.volume;

import static dev.shadowcopy.testing.Segments.filled;
import static dev.shadowcopy.testing.Segments.of;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.ShadowStorageFullException;
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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * When shadow storage is full the engine releases the oldest copies, and only as many as the write needs (VSS):
 * never the newest copy when it alone fits in the maximum.
 */
class ShadowStorageReleaseTest {
    private static final int CHUNK = 64 * 1024;
    private static final long MAX = 4L << 20;
    @TempDir
    Path dir;
    VolumeManager manager;
    final List<ShadowCopyInfo> released = new CopyOnWriteArrayList<>();
    final List<ShadowCopyInfo> releasing = new CopyOnWriteArrayList<>();
    final List<ShadowStorageFullException> refused = new CopyOnWriteArrayList<>();
    /** Copies the owner keeps (protected). */
    final Set<ShadowCopyId> kept = ConcurrentHashMap.newKeySet();

    @BeforeEach
    void open() throws IOException {
        manager = VolumeManager.open(dir.resolve("volumes"), new VolumeEvents() {
            @Override
            public boolean mayRelease(String volume, ShadowCopyInfo copy) {
                return !kept.contains(copy.id());
            }

            @Override
            public void shadowCopyReleasing(String volume, ShadowCopyInfo copy, String reason) {
                releasing.add(copy);
            }

            @Override
            public void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {
                assertTrue(releasing.contains(copy), "the intent is announced before the release");
                released.add(copy);
            }

            @Override
            public void writeRefused(String volume, ShadowStorageFullException refusal) {
                refused.add(refusal);
            }
        });
    }

    private static byte[] read(BlockDevice d, long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        d.read(offset, s);
        return Segments.bytes(s);
    }

    private ManagedVolume limited(VolumeLayout layout, long max) throws IOException {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 8L << 20).withLayout(layout)
                .withShadowStorage(ShadowStorageLimit.ofBytes(max)));
        v.write(0, of(filled(8 << 20, 'o')), true);
        return v;
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void aProtectedCopyIsKeptAndAWriteThatNeedsRoomOnlyItCouldGiveIsRefused(VolumeLayout layout) throws Exception {
        ManagedVolume v = limited(layout, 1L << 20);
        ShadowCopyInfo p = v.createShadowCopy(ShadowCopyId.random(), true);
        kept.add(p.id());
        v.write(0, of(filled(1 << 20, 'a')), false); // fills the maximum for the protected copy
        ShadowStorageFullException e = assertThrows(ShadowStorageFullException.class,
                () -> v.write(2L << 20, of(filled(CHUNK, 'b')), false));
        assertEquals(List.of(p.id().toString()), e.keptCopies());
        assertTrue(e.getMessage().contains("resize shadowstorage --for vol"), e.getMessage());
        assertEquals(1, refused.size(), "the owner hears of the refusal");
        assertEquals(List.of(p.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        assertArrayEquals(filled(1 << 20, 'o'), read(v.shadowCopy(p.id()), 0, 1 << 20));
        assertArrayEquals(filled(CHUNK, 'o'), read(v.shadowCopy(p.id()), 2L << 20, CHUNK));
        if (layout == VolumeLayout.COPY_ON_WRITE) {
            assertArrayEquals(filled(CHUNK, 'o'), read(v, 2L << 20, CHUNK),
                    "copy-on-write applies nothing of a refused write");
        }
        assertTrue(released.isEmpty());
        // once the protection ends the next write releases it, as VSS would
        kept.clear();
        v.write(2L << 20, of(filled(CHUNK, 'b')), false);
        assertEquals(List.of(p.id()), released.stream().map(ShadowCopyInfo::id).toList());
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void unprotectedCopiesAreReleasedAroundAnOlderProtectedOne(VolumeLayout layout) throws Exception {
        ManagedVolume v = limited(layout, 2L << 20);
        ShadowCopyInfo p = v.createShadowCopy(ShadowCopyId.random(), true);
        kept.add(p.id());
        v.write(0, of(filled(1 << 20, 'a')), false); // 16 chunks kept for the protected copy
        ShadowCopyInfo u = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(0, of(filled(1 << 20, 'b')), false); // 16 more for the newer one: full
        assertTrue(released.isEmpty());
        v.write(4L << 20, of(filled(CHUNK, 'c')), false); // needs room: the newer, unprotected copy goes
        assertEquals(List.of(u.id()), released.stream().map(ShadowCopyInfo::id).toList());
        assertEquals(List.of(p.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        assertArrayEquals(filled(2 << 20, 'o'), read(v.shadowCopy(p.id()), 0, 2 << 20));
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void shadowStorageCannotShrinkBelowWhatProtectedCopiesNeed(VolumeLayout layout) throws Exception {
        ManagedVolume v = limited(layout, 4L << 20);
        ShadowCopyInfo p = v.createShadowCopy(ShadowCopyId.random(), true);
        kept.add(p.id());
        v.write(0, of(filled(2 << 20, 'a')), false);
        assertEquals(2L << 20, v.engine().shadowStorageKept());
        VolumeException e = assertThrows(VolumeException.class,
                () -> manager.resizeShadowStorage("vol", ShadowStorageLimit.ofBytes(1L << 20)));
        assertEquals(VolumeException.Code.INSUFFICIENT_STORAGE, e.code());
        assertEquals(ShadowStorageLimit.ofBytes(4L << 20), v.config().shadowStorage(), "nothing changed");
        v.write(4L << 20, of(filled(CHUNK, 'c')), false);
        assertEquals(List.of(p.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
        manager.resizeShadowStorage("vol", ShadowStorageLimit.ofBytes(3L << 20)); // above what it needs: fine
        assertEquals(List.of(p.id()), v.shadowCopies().stream().map(ShadowCopyInfo::id).toList());
    }

    @AfterEach
    void close() throws IOException {
        manager.close();
    }

    /**
     * Each round takes a copy and then rewrites 3.5 MiB sequentially, as a file system's write-back does: 128 KiB
     * requests, two in flight. The newest copy needs at most 3.5 MiB of the 4 MiB maximum, so every round may
     * release older copies but never the newest. (Preserving ahead of the sequential stream used to take the
     * maximum for chunks nobody had written, and released the newest copy for them.)
     */
    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void aFullShadowStorageReleasesOnlyOlderCopiesWhenTheNewestFits(VolumeLayout layout) throws Exception {
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", 16L << 20).withLayout(layout)
                .withShadowStorage(ShadowStorageLimit.ofBytes(MAX)));
        long region = 7L * CHUNK * 8; // 3.5 MiB
        v.write(0, of(filled((int) (16L << 20), 'o')), true);
        List<ShadowCopyInfo> taken = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
            for (int round = 0; round < 12; round++) {
                ShadowCopyInfo newest = v.createShadowCopy(ShadowCopyId.random(), true);
                taken.add(newest);
                long base = (round % 3) * (4L << 20); // vary the region so streams start anew
                List<Future<?>> inFlight = new ArrayList<>();
                for (long off = 0; off < region; off += 128 << 10) {
                    long at = base + off;
                    int fill = 'a' + round;
                    inFlight.add(pool.submit(() -> {
                        v.write(at, of(filled(128 << 10, fill)), false);
                        return null;
                    }));
                    if (inFlight.size() == 2) {
                        inFlight.removeFirst().get();
                    }
                }
                for (Future<?> f : inFlight) {
                    f.get();
                }
                List<ShadowCopyId> left = v.shadowCopies().stream().map(ShadowCopyInfo::id).toList();
                final int r = round;
                assertTrue(left.contains(newest.id()), () -> "round " + r + ": the newest copy was released; released "
                        + released.stream().map(c -> c.sequence()).toList() + ", left " + left);
                for (ShadowCopyInfo c : released) {
                    assertTrue(c.sequence() < newest.sequence(), "only older copies are released");
                }
                assertTrue(v.shadowStorage().used() <= MAX, "usage stays within the maximum");
            }
        }
        assertEquals(taken.getLast().id(), v.shadowCopies().getLast().id());
    }
}
