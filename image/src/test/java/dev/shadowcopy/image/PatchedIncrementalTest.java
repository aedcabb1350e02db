package dev.shadowcopy.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.ChangeTracker;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Pruner;
import dev.shadowcopy.image.maintenance.Retention;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.ChunkPatch;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.restore.RepositoryDevice;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.volume.FileDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Incrementals of scattered small writes store patches, not whole chunks: only the changed extents are read and
 * stored, the next incremental's patch is cumulative over the same whole chunk, a prune of the point that wrote the
 * whole chunk keeps it for the patches that need it, and every point restores exactly.
 */
class PatchedIncrementalTest {
    private static final int CS = 256 << 10;
    private static final int SIZE = 16 * CS;
    private static final int TRACK = 4096;

    @TempDir
    Path dir;

    private final byte[] model = new byte[SIZE];
    private final int[] epochOf = new int[SIZE / TRACK];
    private int epoch = 1;
    private Instant clock = Instant.parse("2026-12-01T00:00:00Z");

    @Test
    void scatteredWritesBecomeCumulativePatchesThatRestoreExactly() throws IOException {
        Repository repo = Repository.init(dir.resolve("repo"), new Repository.InitOptions(CS, 1,
                "secret".toCharArray(), 1000));
        Random rnd = new Random(20261206);
        try (FileDevice dev = FileDevice.create(dir.resolve("vol.img"), SIZE); Arena arena = Arena.ofConfined()) {
            write(dev, arena, 0, SIZE, rnd);
            String full = backup(repo, dev).manifest().id();
            byte[] atFull = model.clone();

            // one 4 KiB write in each of 12 chunks: 12 patches, 48 KiB read
            for (int c = 0; c < 12; c++) {
                write(dev, arena, c * CS + TRACK * rnd.nextInt(CS / TRACK), TRACK, rnd);
            }
            BackupWriter.Result first = backup(repo, dev);
            Manifest.VolumeEntry e1 = first.manifest().volume("v");
            assertEquals(12L * TRACK, e1.bytesRead(), "only the changed extents were read");
            VolumeIndex i1 = index(repo, first.manifest());
            VolumeIndex i0 = index(repo, BackupStore.of(repo).manifest(full));
            for (int c = 0; c < 16; c++) {
                assertEquals(c < 12, i1.patched(c), "chunk " + c);
                if (c < 12) {
                    assertEquals(i0.chunks()[c], i1.base(c), "patched over the full backup's chunk");
                }
            }
            byte[] atFirst = model.clone();

            // a second write to chunk 0 elsewhere, a large one to chunk 13: chunk 0's patch is cumulative
            write(dev, arena, 5 * TRACK, TRACK, rnd);
            write(dev, arena, 13 * CS, CS / 2, rnd);
            BackupWriter.Result second = backup(repo, dev);
            VolumeIndex i2 = index(repo, second.manifest());
            assertTrue(i2.patched(0));
            assertEquals(i0.chunks()[0], i2.base(0), "the base stays the whole chunk, never a patch");
            assertFalse(i2.patched(13), "half a chunk changed: stored whole");
            assertEquals(i1.chunks()[5], i2.chunks()[5], "an unchanged patched chunk is reused as it was");
            assertEquals(i1.base(5), i2.base(5));

            restoresExactly(repo, full, atFull);
            restoresExactly(repo, first.manifest().id(), atFirst);
            restoresExactly(repo, second.manifest().id(), model);

            // the full point goes; its whole chunks stay for the patches over them
            Pruner.prune(repo, new Retention(2, 0, 0, 0, ZoneOffset.UTC), false, true, Duration.ofSeconds(5));
            GarbageCollector.collect(repo, Duration.ofSeconds(5));
            assertEquals(2, BackupStore.of(repo).ids().size());
            restoresExactly(repo, first.manifest().id(), atFirst);
            restoresExactly(repo, second.manifest().id(), model);
            assertTrue(Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE).ok());

            // a base lost is damage that verify names, and a restore refuses
            Path base = dir.resolve("repo").resolve("chunks").resolve(i2.base(0).hex().substring(0, 3))
                    .resolve(i2.base(0).hex());
            Files.delete(base);
            assertFalse(Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE).ok());
            assertThrows(IOException.class, () -> restoresExactly(repo, second.manifest().id(), model));
        }
    }

    @Test
    void anEncryptedChunkPutUnderAnotherNameIsRefusedByRestoreWithoutBeingHashed() throws IOException {
        Repository repo = Repository.init(dir.resolve("repo"), new Repository.InitOptions(CS, 1,
                "secret".toCharArray(), 1000));
        try (FileDevice dev = FileDevice.create(dir.resolve("vol.img"), SIZE); Arena arena = Arena.ofConfined()) {
            write(dev, arena, 0, SIZE, new Random(7));
            BackupWriter.Result r = backup(repo, dev);
            VolumeIndex idx = index(repo, r.manifest());
            Path chunks = dir.resolve("repo").resolve("chunks");
            Path a = chunks.resolve(idx.chunks()[0].hex().substring(0, 3)).resolve(idx.chunks()[0].hex());
            Path b = chunks.resolve(idx.chunks()[1].hex().substring(0, 3)).resolve(idx.chunks()[1].hex());
            Files.copy(a, b, java.nio.file.StandardCopyOption.REPLACE_EXISTING); // a valid blob, the wrong name
            IOException e = assertThrows(IOException.class, () -> restoresExactly(repo, r.manifest().id(), model));
            assertTrue(e.getMessage().contains(idx.chunks()[1].hex()), e.getMessage());
        }
    }

    @Test
    void anIndexWithoutPatchesIsEncodedAsBeforeAndOneWithThemRoundTrips() throws IOException {
        ChunkId a = ChunkId.of(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                23, 24, 25, 26, 27, 28, 29, 30, 31, 32});
        ChunkId b = ChunkId.of(new byte[32]);
        VolumeIndex plain = new VolumeIndex(3 * 4096 - 5, 4096, new ChunkId[] {a, b, a});
        assertEquals(16 + 3 * 32, plain.encode().length, "the format of an index without patches is unchanged");
        VolumeIndex patched = new VolumeIndex(3 * 4096 - 5, 4096, new ChunkId[] {a, b, a},
                new ChunkId[] {null, null, ChunkId.ZERO});
        byte[] enc = patched.encode();
        VolumeIndex back = VolumeIndex.decode(enc, enc.length, "index");
        assertFalse(back.patched(0));
        assertTrue(back.patched(2));
        assertEquals(ChunkId.ZERO, back.base(2));
        assertNull(back.base(1));
        List<ChunkId> objects = new ArrayList<>();
        back.forEachObject(objects::add);
        assertEquals(List.of(a, a), objects, "zeros are never objects");
        // a patch table naming a zero chunk, out of order, or cut short is damage
        for (int cut = 1; cut < 36; cut += 7) {
            int n = enc.length - cut;
            assertThrows(RepositoryException.class, () -> VolumeIndex.decode(enc, n, "index"));
        }
        byte[] bad = enc.clone();
        bad[16 + 3 * 32 + 7] = 1; // the patched chunk's number: 2 becomes 1, which names zeros
        assertThrows(RepositoryException.class, () -> VolumeIndex.decode(bad, bad.length, "index"));
    }

    @Test
    void aPatchIsCheckedAgainstItsIndexBeforeItIsApplied() {
        ChunkId base = ChunkId.ZERO;
        List<int[]> extents = List.of(new int[] {0, 8}, new int[] {100, 4});
        try (Arena arena = Arena.ofConfined()) {
            int len = (int) ChunkPatch.length(extents);
            MemorySegment p = arena.allocate(len);
            ChunkPatch.writeHeader(p, base, 4096, extents);
            p.asSlice(ChunkPatch.headerLength(2)).fill((byte) 7);
            MemorySegment chunk = arena.allocate(4096);
            assertThrows(RepositoryException.class, () -> ChunkPatch.apply(p, len, base, 2048, chunk, "p"),
                    "another chunk length");
            assertThrows(RepositoryException.class, () -> ChunkPatch.apply(p, len - 1, base, 4096, chunk, "p"),
                    "data cut short");
            assertThrows(RepositoryException.class, () -> ChunkPatch.apply(p, len, ChunkId.of(new byte[] {1, 1, 1,
                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}), 4096, chunk,
                    "p"), "another base");
            assertDoesNotThrowApply(p, len, base, chunk);
            assertEquals(7, chunk.get(ValueLayout.JAVA_BYTE, 7));
            assertEquals(0, chunk.get(ValueLayout.JAVA_BYTE, 8));
            assertEquals(7, chunk.get(ValueLayout.JAVA_BYTE, 103));
            // overlapping extents are damage
            p.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 4 + 32 + 8 + 8, 4);
            assertThrows(RepositoryException.class, () -> ChunkPatch.apply(p, len, base, 4096, chunk, "p"));
        }
    }

    private static void assertDoesNotThrowApply(MemorySegment p, int len, ChunkId base, MemorySegment chunk) {
        try {
            ChunkPatch.apply(p, len, base, 4096, chunk, "p");
        } catch (RepositoryException e) {
            throw new AssertionError(e);
        }
    }

    private void write(FileDevice dev, Arena arena, int off, int len, Random rnd) throws IOException {
        byte[] data = new byte[len];
        rnd.nextBytes(data);
        System.arraycopy(data, 0, model, off, len);
        MemorySegment seg = arena.allocate(len);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, len);
        dev.write(off, seg, false);
        for (int t = off / TRACK; t <= (off + len - 1) / TRACK; t++) {
            epochOf[t] = epoch;
        }
    }

    private BackupWriter.Result backup(Repository repo, FileDevice dev) throws IOException {
        int seq = epoch++;
        int[] snapshot = epochOf.clone();
        ChangeTracker tracker = (since, o, l, v) -> {
            for (int t = 0; t < snapshot.length; t++) {
                v.extent((long) t * TRACK, TRACK, snapshot[t] > since ? 1 : 0);
            }
        };
        clock = clock.plus(Duration.ofHours(1));
        return BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource("v", "id-1", "copy-" + seq,
                seq, dev, tracker)), clock, "set", "backup", "crash-consistent", List.of(), Map.of(), "host", null,
                false, 2, Duration.ofSeconds(5)), Progress.NONE);
    }

    private static VolumeIndex index(Repository repo, Manifest m) throws IOException {
        return BackupStore.of(repo).index(m, m.volume("v"));
    }

    private void restoresExactly(Repository repo, String id, byte[] expected) throws IOException {
        Path out = dir.resolve("restore-" + id + "-" + System.nanoTime());
        try (FileDevice target = FileDevice.create(out, SIZE)) {
            Restorer.restore(repo, id, "v", target, new Restorer.Options(true, true, 2, Duration.ofSeconds(5)),
                    Progress.NONE);
        }
        assertArrayEquals(expected, Files.readAllBytes(out), "restore of " + id);
        Files.delete(out);
        Manifest m = BackupStore.of(repo).manifest(id);
        RepositoryDevice rd = new RepositoryDevice(repo, m, m.volume("v"));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(SIZE - 1000);
            rd.read(1000, seg);
            assertNotNull(seg);
            assertArrayEquals(java.util.Arrays.copyOfRange(expected, 1000, SIZE), seg.toArray(ValueLayout.JAVA_BYTE));
        }
    }
}
