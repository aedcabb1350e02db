package dev.shadowcopy.image.manifest;

import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.RepositoryException;
import java.nio.ByteBuffer;
import java.util.function.Consumer;

/**
 * The chunks of one volume in one backup point, in volume order: chunk {@code i} holds bytes
 * {@code [i * chunkSize, min(size, (i + 1) * chunkSize))}. {@link ChunkId#ZERO} marks a chunk that reads as
 * zeros. A chunk may be <em>patched</em> ({@code bases[i] != null}): then {@code chunks[i]} names a {@link ChunkPatch}
 * object and the chunk's bytes are those of {@code bases[i]} (a whole chunk, or {@link ChunkId#ZERO}) with the
 * patch's extents written over them. A base is never itself a patch, so a chunk reads from at most two objects.
 *
 * <p>Stored as {@code u64 size, u32 chunk size, u32 count, count × 32-byte ids}, then, only when some chunk is
 * patched, {@code u32 patched, patched × (u32 chunk, 32-byte base id)} in chunk order; an index without patches is
 * byte for byte what it was before patches existed.
 */
public record VolumeIndex(long size, int chunkSize, ChunkId[] chunks, ChunkId[] bases) {
    public VolumeIndex {
        if (chunks.length != count(size, chunkSize)) {
            throw new IllegalArgumentException(chunks.length + " chunks for " + size + " bytes in chunks of "
                    + chunkSize);
        }
        if (bases != null && bases.length != chunks.length) {
            throw new IllegalArgumentException(bases.length + " bases for " + chunks.length + " chunks");
        }
    }

    /** An index of whole chunks only. */
    public VolumeIndex(long size, int chunkSize, ChunkId[] chunks) {
        this(size, chunkSize, chunks, null);
    }

    /** True when chunk {@code i} is a patch over {@link #base}. */
    public boolean patched(int i) {
        return bases != null && bases[i] != null;
    }

    /** The whole chunk (or zeros) chunk {@code i}'s patch applies to; null when it is not patched. */
    public ChunkId base(int i) {
        return bases == null ? null : bases[i];
    }

    /** Every stored object this index needs (patches and their bases included), zeros left out; repeats possible. */
    public void forEachObject(Consumer<ChunkId> object) {
        for (int i = 0; i < chunks.length; i++) {
            if (!chunks[i].isZero()) {
                object.accept(chunks[i]);
            }
            if (bases != null && bases[i] != null && !bases[i].isZero()) {
                object.accept(bases[i]);
            }
        }
    }

    public static int count(long size, int chunkSize) {
        long n = (size + chunkSize - 1) / chunkSize;
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("volume too large for chunks of " + chunkSize);
        }
        return (int) n;
    }

    public long chunkOffset(int i) {
        return (long) i * chunkSize;
    }

    public int chunkLength(int i) {
        return (int) Math.min(chunkSize, size - chunkOffset(i));
    }

    public byte[] encode() {
        int patched = 0;
        for (int i = 0; i < chunks.length; i++) {
            patched += patched(i) ? 1 : 0;
        }
        int head = 16 + chunks.length * ChunkId.BYTES;
        ByteBuffer b = ByteBuffer.allocate(head + (patched == 0 ? 0 : 4 + patched * (4 + ChunkId.BYTES)));
        b.putLong(size).putInt(chunkSize).putInt(chunks.length);
        byte[] a = b.array();
        for (int i = 0; i < chunks.length; i++) {
            chunks[i].copyTo(a, 16 + i * ChunkId.BYTES);
        }
        if (patched > 0) {
            b.position(head);
            b.putInt(patched);
            for (int i = 0; i < chunks.length; i++) {
                if (patched(i)) {
                    b.putInt(i);
                    bases[i].copyTo(a, b.position());
                    b.position(b.position() + ChunkId.BYTES);
                }
            }
        }
        return a;
    }

    public static VolumeIndex decode(byte[] data, int length, String name) throws RepositoryException {
        if (length < 16) {
            throw corrupt(name, "too short");
        }
        ByteBuffer b = ByteBuffer.wrap(data, 0, length);
        long size = b.getLong();
        int chunkSize = b.getInt();
        int count = b.getInt();
        long head = 16L + (long) count * ChunkId.BYTES;
        if (size <= 0 || chunkSize <= 0 || count < 0 || head > length) {
            throw corrupt(name, "header does not match its length");
        }
        if ((size + chunkSize - 1) / chunkSize != count) {
            throw corrupt(name, count + " chunks cannot cover " + size + " bytes in chunks of " + chunkSize);
        }
        ChunkId[] ids = new ChunkId[count];
        for (int i = 0; i < count; i++) {
            ids[i] = ChunkId.of(data, 16 + i * ChunkId.BYTES);
        }
        if (head == length) {
            return new VolumeIndex(size, chunkSize, ids);
        }
        b.position((int) head);
        if (length - head < 4) {
            throw corrupt(name, "its patch table is cut short");
        }
        int patched = b.getInt();
        if (patched <= 0 || patched > count || (long) patched * (4 + ChunkId.BYTES) != length - head - 4) {
            throw corrupt(name, "its patch table does not match its length");
        }
        ChunkId[] bases = new ChunkId[count];
        int last = -1;
        for (int k = 0; k < patched; k++) {
            int c = b.getInt();
            if (c <= last || c >= count) {
                throw corrupt(name, "its patch table names chunk " + c + " out of order or range");
            }
            if (ids[c].isZero()) {
                throw corrupt(name, "chunk " + c + " is patched but names no patch");
            }
            bases[c] = ChunkId.of(data, b.position());
            b.position(b.position() + ChunkId.BYTES);
            last = c;
        }
        return new VolumeIndex(size, chunkSize, ids, bases);
    }

    private static RepositoryException corrupt(String name, String why) {
        return new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: " + why);
    }
}
