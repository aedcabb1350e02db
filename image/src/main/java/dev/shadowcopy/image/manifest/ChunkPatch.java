package dev.shadowcopy.image.manifest;

import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.platform.Formats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A chunk stored as its changes against a whole chunk of an earlier backup point (the base): what an incremental
 * backup writes when change tracking says a chunk changed in only a few places (scattered small writes), instead of
 * reading and storing the whole chunk again. Stored as an ordinary chunk object (named by the keyed hash of these
 * bytes, compressed and encrypted like any chunk, verified, deduplicated and collected the same way); the volume
 * index says which chunks are patches and over which base ({@link VolumeIndex#base}).
 *
 * <p>Patches are cumulative: the next incremental's patch of the same chunk holds the earlier patch's extents and the
 * new ones over the same base, so a chunk never reads from more than two objects, and a patch that would grow past
 * {@link #limit} is replaced by a whole chunk.
 *
 * <p>Layout (big-endian): magic {@code SCP1}, the base's 32-byte id, u32 length of the chunk it makes, u32 count,
 * count × (u32 offset, u32 length) sorted and not overlapping, then the extents' bytes in that order. Decoding checks
 * every field against the chunk's length and the object's length before using it.
 */
public final class ChunkPatch {
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int FIXED = 4 + ChunkId.BYTES + 4 + 4;

    private ChunkPatch() {}

    /** At most this many changed bytes per chunk are stored as a patch: beyond, a whole chunk is cheaper to read. */
    public static int limit(int chunkSize) {
        return chunkSize / 4;
    }

    /** Bytes of the header before the extents' data. */
    public static int headerLength(int extents) {
        return FIXED + 8 * extents;
    }

    /** Total length of a patch of these extents ({@code int[]{offset, length}} each). */
    public static long length(List<int[]> extents) {
        long n = headerLength(extents.size());
        for (int[] e : extents) {
            n += e[1];
        }
        return n;
    }

    /**
     * Writes the header of a patch into {@code out}; the caller then puts the extents' bytes there in their order, one
     * after the other, starting at {@link #headerLength}.
     */
    public static void writeHeader(MemorySegment out, ChunkId base, int chunkLength, List<int[]> extents) {
        out.set(INT, 0, Formats.CHUNK_PATCH_MAGIC);
        MemorySegment.copy(MemorySegment.ofArray(base.bytes()), 0, out, 4, ChunkId.BYTES);
        out.set(INT, 4 + ChunkId.BYTES, chunkLength);
        out.set(INT, 8 + ChunkId.BYTES, extents.size());
        long pos = FIXED;
        for (int[] e : extents) {
            out.set(INT, pos, e[0]);
            out.set(INT, pos + 4, e[1]);
            pos += 8;
        }
    }

    /** The extents of a patch, checked. */
    public static List<int[]> extents(MemorySegment patch, long length, ChunkId base, int chunkLength, String name)
            throws RepositoryException {
        return parse(patch, length, base, chunkLength, name);
    }

    /**
     * Writes a patch's extents over {@code chunk} (which holds its base's bytes, {@code chunkLength} of them), after
     * checking that it is a patch of this base for a chunk of this length.
     */
    public static void apply(MemorySegment patch, long length, ChunkId base, int chunkLength, MemorySegment chunk,
                             String name) throws RepositoryException {
        List<int[]> extents = parse(patch, length, base, chunkLength, name);
        long pos = headerLength(extents.size());
        for (int[] e : extents) {
            MemorySegment.copy(patch, pos, chunk, e[0], e[1]);
            pos += e[1];
        }
    }

    private static List<int[]> parse(MemorySegment p, long length, ChunkId base, int chunkLength, String name)
            throws RepositoryException {
        if (length < FIXED || p.get(INT, 0) != Formats.CHUNK_PATCH_MAGIC) {
            throw corrupt(name, "is not a chunk patch");
        }
        byte[] b = new byte[ChunkId.BYTES];
        MemorySegment.copy(p, 4, MemorySegment.ofArray(b), 0, ChunkId.BYTES);
        if (!ChunkId.of(b).equals(base)) {
            throw corrupt(name, "patches another base than its index says");
        }
        if (p.get(INT, 4 + ChunkId.BYTES) != chunkLength) {
            throw corrupt(name, "makes a chunk of another length than its index says");
        }
        int count = p.get(INT, 8 + ChunkId.BYTES);
        if (count < 0 || count > chunkLength || headerLength(count) > length) { // in this order: no overflow
            throw corrupt(name, "has a patch header that does not fit it");
        }
        List<int[]> out = new ArrayList<>(count);
        long data = 0;
        long end = 0;
        for (int k = 0; k < count; k++) {
            int off = p.get(INT, FIXED + 8L * k);
            int len = p.get(INT, FIXED + 8L * k + 4);
            if (off < end || len <= 0 || (long) off + len > chunkLength) {
                throw corrupt(name, "has an extent out of order or out of its chunk");
            }
            end = (long) off + len;
            data += len;
            out.add(new int[] {off, len});
        }
        if (headerLength(count) + data != length) {
            throw corrupt(name, "holds " + (length - headerLength(count)) + " bytes of data where its extents say "
                    + data);
        }
        return out;
    }

    private static RepositoryException corrupt(String name, String why) {
        return new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: it " + why);
    }
}
