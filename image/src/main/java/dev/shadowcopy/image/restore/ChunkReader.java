package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.manifest.ChunkPatch;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

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

    public ChunkReader(Repository repo, int chunkSize) {
        this.repo = repo;
        this.patches = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(chunkSize, 4096));
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

    /** Chunk {@code c} of {@code idx} on the heap (a cache's entry), {@code idx.chunkSize()} bytes long. */
    public byte[] read(VolumeIndex idx, int c) throws IOException {
        int len = idx.chunkLength(c);
        byte[] data = new byte[idx.chunkSize()];
        ChunkId id = idx.chunks()[c];
        if (id.isZero()) {
            return data;
        }
        if (!idx.patched(c)) {
            check(id, repo.readChunk(id, data), len);
            return data;
        }
        ChunkId base = idx.base(c);
        if (!base.isZero()) {
            check(base, repo.readChunk(base, data), len);
        }
        byte[] p = new byte[idx.chunkSize()];
        int n = repo.readChunk(id, p);
        ChunkPatch.apply(MemorySegment.ofArray(p), n, base, len, MemorySegment.ofArray(data), "chunk " + id.hex());
        return data;
    }

    private static void check(ChunkId id, int n, int len) throws RepositoryException {
        if (n != len) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "chunk " + id + " has " + n
                    + " bytes where the index needs " + len);
        }
    }
}
