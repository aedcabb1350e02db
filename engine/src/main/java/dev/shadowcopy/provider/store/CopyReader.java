package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Reads and allocation maps of an epoch engine's versions, for the live volume and for copies alike: each chunk is
 * where a {@link Locator} says — in the origin file at its own offset ({@link VersionIndex#BASE}), zeros
 * ({@link VersionIndex#ZERO}) or a shadow-storage slot.
 *
 * <p>Lock-free with validation: a run of chunks in the same place (the origin, or consecutive slots) is read with one
 * pread, then located again; a chunk that moved meanwhile (a writer publishes the new location before it changes the
 * old one) is read again from where it is now. The caller pins the copy, so versions a copy needs are never freed
 * under it.
 */
public final class CopyReader {
    /** The epoch a reader of the live volume asks for. */
    public static final int LIVE = Integer.MAX_VALUE;

    /** Where the version of chunk {@code chunk} that a reader of epoch {@code asOf} sees is now. */
    public interface Locator {
        int locate(int asOf, long chunk);
    }

    private final Locator where;
    private final StorageFile origin;
    private final SlotStore slots;
    private final int shift;
    private final String volume;

    public CopyReader(Locator where, StorageFile origin, SlotStore slots, int shift, String volume) {
        this.where = where;
        this.origin = origin;
        this.slots = slots;
        this.shift = shift;
        this.volume = volume;
    }

    /** Reads {@code dst.byteSize()} bytes at {@code offset} as of epoch {@code asOf}. */
    public void read(int asOf, long offset, MemorySegment dst) throws IOException {
        read(asOf, offset, dst, false);
    }

    /**
     * As {@link #read(int, long, MemorySegment)}; {@code uncached}: runs in the origin are read past the page cache
     * ({@link StorageFile#readUncached}). The validation below is the same either way: a direct read sees what a
     * buffered one would (the kernel writes the range's dirty pages first), and a chunk that moved meanwhile is read
     * again where it is now.
     */
    public void read(int asOf, long offset, MemorySegment dst, boolean uncached) throws IOException {
        long end = offset + dst.byteSize();
        long pos = offset;
        while (pos < end) {
            long c = pos >>> shift;
            int loc = where.locate(asOf, c);
            long runEnd = Math.min(end, (c + 1) << shift);
            long next = c + 1;
            if (loc == VersionIndex.BASE) {
                while (runEnd < end && where.locate(asOf, next) == VersionIndex.BASE) {
                    runEnd = Math.min(end, (next + 1) << shift);
                    next++;
                }
                if (uncached) {
                    origin.readUncached(pos, dst.asSlice(pos - offset, runEnd - pos));
                } else {
                    origin.read(pos, dst.asSlice(pos - offset, runEnd - pos));
                }
            } else if (loc >= 0) {
                // a stream of first touches preserves (or redirects) into consecutive slots: one pread for the run
                while (runEnd < end && where.locate(asOf, next) == loc + (int) (next - c)) {
                    runEnd = Math.min(end, (next + 1) << shift);
                    next++;
                }
                slots.read(loc, pos - (c << shift), dst.asSlice(pos - offset, runEnd - pos));
            } else if (loc == VersionIndex.ZERO) {
                dst.asSlice(pos - offset, runEnd - pos).fill((byte) 0);
            } else {
                throw new VolumeException(VolumeException.Code.CORRUPT, "volume " + volume + ": chunk " + c
                        + (asOf == LIVE ? " of the live volume" : " of the shadow copy with sequence " + asOf)
                        + " has no recorded version; it is damaged and must not be used (delete the copy)");
            }
            pos = stillThere(asOf, c, next, loc, pos, runEnd);
        }
    }

    /** The end of the part of a run whose chunks are still where they were read from. */
    private long stillThere(int asOf, long c, long next, int loc, long pos, long runEnd) {
        for (long k = c; k < next; k++) {
            int expected = loc >= 0 ? loc + (int) (k - c) : loc;
            if (where.locate(asOf, k) != expected) {
                return Math.max(pos, k << shift); // moved while we read: read it again where it is now
            }
        }
        return runEnd;
    }

    /**
     * Reports the allocation of {@code [offset, offset + length)} as of epoch {@code asOf}: chunks in the origin as
     * the file reports them, zeros as holes, slots as data.
     */
    public void mapAllocation(int asOf, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        ExtentCoalescer out = new ExtentCoalescer(visitor);
        long end = offset + length;
        long pos = offset;
        while (pos < end && !out.stopped()) {
            long c = pos >>> shift;
            long runEnd = Math.min(end, (c + 1) << shift);
            int loc = where.locate(asOf, c);
            if (loc == VersionIndex.BASE) {
                long next = c + 1;
                while (runEnd < end && where.locate(asOf, next) == VersionIndex.BASE) {
                    runEnd = Math.min(end, (next + 1) << shift);
                    next++;
                }
                FileExtents.map(origin, pos, runEnd - pos, out::add);
            } else {
                out.add(pos, runEnd - pos, loc == VersionIndex.ZERO
                        ? BlockDevice.EXTENT_HOLE | BlockDevice.EXTENT_ZERO : 0);
            }
            pos = runEnd;
        }
        out.finish();
    }
}
