package dev.shadowcopy.image.manifest;

import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.RepositoryException;
import java.nio.ByteBuffer;

/**
 * The chunks of one volume in one backup point, in volume order: chunk {@code i} holds bytes
 * {@code [i * chunkSize, min(size, (i + 1) * chunkSize))}. {@link ChunkId#ZERO} marks a chunk that reads as
 * zeros. Stored as {@code u64 size, u32 chunk size, u32 count, count × 32-byte ids}.
 */
public record VolumeIndex(long size, int chunkSize, ChunkId[] chunks) {
    public VolumeIndex {
        if (chunks.length != count(size, chunkSize)) {
            throw new IllegalArgumentException(chunks.length + " chunks for " + size + " bytes in chunks of "
                    + chunkSize);
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
        ByteBuffer b = ByteBuffer.allocate(16 + chunks.length * ChunkId.BYTES);
        b.putLong(size).putInt(chunkSize).putInt(chunks.length);
        byte[] a = b.array();
        for (int i = 0; i < chunks.length; i++) {
            chunks[i].copyTo(a, 16 + i * ChunkId.BYTES);
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
        if (size <= 0 || chunkSize <= 0 || count < 0 || (long) count * ChunkId.BYTES != length - 16L) {
            throw corrupt(name, "header does not match its length");
        }
        if ((size + chunkSize - 1) / chunkSize != count) {
            throw corrupt(name, count + " chunks cannot cover " + size + " bytes in chunks of " + chunkSize);
        }
        ChunkId[] ids = new ChunkId[count];
        for (int i = 0; i < count; i++) {
            ids[i] = ChunkId.of(data, 16 + i * ChunkId.BYTES);
        }
        return new VolumeIndex(size, chunkSize, ids);
    }

    private static RepositoryException corrupt(String name, String why) {
        return new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: " + why);
    }
}
