package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.manifest.ChunkPatch;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Reads a chunk of a volume index as the volume held it: zeros, a whole chunk, or a base with its patch written over
 * it ({@link ChunkPatch}). Every object read is checked against its name (the repository's readChunk) and a patch
 * against its index. The one place restores, served points and live restores turn an index entry into bytes.
 *
 * <p>Thread-safety: safe to share; each thread gets its own room for a patch.
 */
public final class ChunkReader {
    private final Repository repo;
    private final ThreadLocal<MemorySegment> patches;
    /** A chunk's and an encoded chunk's room, per thread, for {@link #read(VolumeIndex, int)}. */
    private final ThreadLocal<Room> rooms;

    private record Room(MemorySegment chunk, MemorySegment blob) {}

    public ChunkReader(Repository repo, int chunkSize) {
        this.repo = repo;
        this.patches = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(chunkSize, 4096));
        this.rooms = ThreadLocal.withInitial(() -> new Room(Arena.ofAuto().allocate(chunkSize, 4096),
                Arena.ofAuto().allocate(BlobCodec.maxBlob(chunkSize), 4096)));
    }

    /**
     * Reads chunk {@code c} of {@code idx} into {@code dst} (native, at least the chunk's length) through
     * {@code scratch} (native, at least {@code BlobCodec.maxBlob(chunkSize)}).
     */
    public void read(VolumeIndex idx, int c, MemorySegment dst, MemorySegment scratch) throws IOException {
        int len = idx.chunkLength(c);
        ChunkId id = idx.chunks()[c];
        if (id.isZero()) {
            dst.asSlice(0, len).fill((byte) 0);
            return;
        }
        if (!idx.patched(c)) {
            check(id, repo.readChunk(id, dst, scratch), len);
            return;
        }
        ChunkId base = idx.base(c);
        if (base.isZero()) {
            dst.asSlice(0, len).fill((byte) 0);
        } else {
            check(base, repo.readChunk(base, dst, scratch), len);
        }
        MemorySegment p = patches.get();
        int n = repo.readChunk(id, p, scratch);
        ChunkPatch.apply(p, n, base, len, dst, "chunk " + id.hex());
    }

    /**
     * Chunk {@code c} of {@code idx} on the heap (a cache's entry), {@code idx.chunkSize()} bytes long: read as
     * {@link #read(VolumeIndex, int, MemorySegment, MemorySegment)} reads, into this thread's native room, then copied.
     */
    public byte[] read(VolumeIndex idx, int c) throws IOException {
        Room r = rooms.get();
        read(idx, c, r.chunk(), r.blob());
        byte[] data = new byte[idx.chunkSize()];
        MemorySegment.copy(r.chunk(), ValueLayout.JAVA_BYTE, 0, data, 0, idx.chunkLength(c));
        return data;
    }

    private static void check(ChunkId id, int n, int len) throws RepositoryException {
        if (n != len) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "chunk " + id + " has " + n
                    + " bytes where the index needs " + len);
        }
    }
}
