package dev.shadowcopy.image.repository;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * What every {@link RepositoryBackend} does, whatever keeps the objects: each implementation's test extends this
 * (a directory, S3). One behaviour per test; the durability words of the interface are checked where a test can
 * see them (an object is readable after {@link RepositoryBackend#barrier}, and whole).
 */
public abstract class RepositoryBackendContract {
    /** A backend over a fresh, empty repository location. */
    protected abstract RepositoryBackend create() throws Exception;

    static ChunkId id(int seed) {
        byte[] b = new byte[ChunkId.BYTES];
        new Random(seed).nextBytes(b);
        return ChunkId.of(b);
    }

    static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void aPublishedObjectReadsBackWhole() throws Exception {
        try (RepositoryBackend b = create()) {
            b.makeDirectory("");
            b.makeDirectory("backups/x");
            byte[] data = bytes(100_000, 1);
            b.publish("backups/x/manifest", data);
            assertArrayEquals(data, b.read("backups/x/manifest"));
            b.publish("backups/x/manifest", "two".getBytes(StandardCharsets.UTF_8));
            assertEquals("two", new String(b.read("backups/x/manifest"), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aMissingObjectIsNoSuchFile() throws Exception {
        try (RepositoryBackend b = create()) {
            b.makeDirectory("");
            assertThrows(NoSuchFileException.class, () -> b.read("backups/none/manifest"));
            assertThrows(NoSuchFileException.class, () -> b.readChunk(id(9)));
            assertFalse(b.exists("backups/none/manifest"));
            assertEquals(-1, b.chunkFileSize(id(9)));
        }
    }

    @Test
    void listingNamesObjectsAndDirectoriesOnceSorted() throws Exception {
        try (RepositoryBackend b = create()) {
            b.makeDirectory("");
            for (String d : new String[] {"backups/b", "backups/a"}) {
                b.makeDirectory(d);
                b.writeNew(d + "/0.index", new byte[] {1});
                b.writeNew(d + "/manifest", new byte[] {2});
            }
            b.barrier();
            assertEquals(List.of("a", "b"), b.list("backups"));
            assertEquals(List.of("0.index", "manifest"), b.list("backups/a"));
            assertTrue(b.isDirectory("backups/a"));
            assertFalse(b.isDirectory("backups/a/manifest"));
            assertEquals(List.of(), b.list("nothing-here"));
        }
    }

    @Test
    void aDeletedObjectIsGoneAndDeletingItAgainIsNoError() throws Exception {
        try (RepositoryBackend b = create()) {
            b.makeDirectory("");
            b.makeDirectory("backups/x");
            b.writeNew("backups/x/.partial", new byte[0]);
            b.barrier();
            assertTrue(b.exists("backups/x/.partial"));
            b.delete("backups/x/.partial");
            assertFalse(b.exists("backups/x/.partial"));
            b.delete("backups/x/.partial");
        }
    }

    @Test
    void chunksAreStoredUnderTheirIdsListedAndDeletedInBatches() throws Exception {
        try (RepositoryBackend b = create()) {
            b.makeDirectory("");
            b.makeDirectory("chunks");
            List<ChunkId> ids = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                ids.add(id(i));
                b.writeChunk(id(i), bytes(1000 + i, i));
            }
            b.barrier(); // every chunk written before it is durable and readable
            for (int i = 0; i < 20; i++) {
                assertArrayEquals(bytes(1000 + i, i), b.readChunk(id(i)));
                assertEquals(1000 + i, b.chunkFileSize(id(i)));
            }
            List<ChunkId> seen = new ArrayList<>();
            b.forEachChunkFile(seen::add, k -> { });
            assertEquals(ids.stream().sorted().toList(), seen.stream().sorted().toList());
            assertEquals(10, b.deleteChunks(ids.subList(0, 10)));
            List<ChunkId> left = new ArrayList<>();
            b.forEachChunkFile(left::add, k -> { });
            assertEquals(ids.subList(10, 20).stream().sorted().toList(), left.stream().sorted().toList());
        }
    }

    @Test
    void listTreeFindsEveryObjectBelowAPrefix() throws Exception {
        try (RepositoryBackend b = create()) {
            b.makeDirectory("");
            b.makeDirectory("backups/a");
            b.makeDirectory("backups/b");
            b.writeNew("backups/a/manifest", new byte[] {1});
            b.writeNew("backups/b/.partial", new byte[] {});
            b.barrier();
            List<String> keys = b.listTree("backups/").stream().map(RepositoryBackend.ObjectInfo::key).sorted()
                    .toList();
            assertEquals(List.of("backups/a/manifest", "backups/b/.partial"), keys);
        }
    }
}
