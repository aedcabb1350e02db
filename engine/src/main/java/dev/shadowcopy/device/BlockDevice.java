package dev.shadowcopy.device;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A randomly addressable store of bytes: a managed volume, a shadow copy, a backup point served for
 * instant recovery. This is what the NBD server exports and what backups read.
 *
 * <p>Contract for every method: offsets and lengths are bytes, {@code 0 <= offset}, {@code 0 <= length},
 * {@code offset + length <= size()}; anything else throws {@link OutOfRangeException} before any byte is
 * touched. Buffers are native memory segments ({@code MemorySegment.ofBuffer} of a direct buffer, or an
 * arena allocation); their {@code byteSize()} is the length. A completed {@link #write} is visible to every
 * later {@link #read}; it is durable once {@link #flush()} returns, or on return when {@code fua} is set.
 * Implementations are safe for concurrent use.
 */
public interface BlockDevice {

    /** NBD_STATE_HOLE: the extent is not allocated. */
    int EXTENT_HOLE = 1;
    /** NBD_STATE_ZERO: the extent reads as zeros. */
    int EXTENT_ZERO = 2;

    /** Name for messages (volume name, or "shadow copy {id} of {volume}"). */
    String name();

    /** Size in bytes; constant for the device's life. */
    long size();

    boolean isReadOnly();

    /** The natural I/O size (the chunk size of a managed volume): clients do best when aligned to it. */
    int preferredBlockSize();

    void read(long offset, MemorySegment dst) throws IOException;

    /**
     * {@link #read}, for a reader that passes over the device once (a backup reading a shadow copy): where the device
     * can, the bytes bypass the page cache (O_DIRECT), which saves the copy of every page and keeps the cache for what
     * is read again. The same bytes as {@link #read}; the default is {@link #read}.
     */
    default void readUncached(long offset, MemorySegment dst) throws IOException {
        read(offset, dst);
    }

    void write(long offset, MemorySegment src, boolean fua) throws IOException;

    /** Makes every completed write durable. */
    void flush() throws IOException;

    /** Discards a range: it reads as zeros afterwards and may be deallocated. */
    void trim(long offset, long length, boolean fua) throws IOException;

    /**
     * Makes a range read as zeros. With {@code mayDeallocate} the range may become a hole (NBD without
     * NO_HOLE); without it, the space stays allocated.
     */
    void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException;

    /**
     * Reports the allocation state of {@code [offset, offset + length)} as consecutive extents in ascending
     * order, starting exactly at {@code offset}, until the range is covered or the visitor returns false.
     * Flags are {@link #EXTENT_HOLE} and {@link #EXTENT_ZERO}; 0 means allocated data.
     */
    void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException;

    /** Receives extents from {@link #mapAllocation} and change maps. */
    @FunctionalInterface
    interface ExtentVisitor {
        /** @return false to stop early */
        boolean extent(long offset, long length, int flags) throws IOException;
    }

    /** Throws {@link OutOfRangeException} unless {@code [offset, offset + length)} lies within the device. */
    static void checkRange(BlockDevice device, long offset, long length) throws OutOfRangeException {
        long size = device.size();
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new OutOfRangeException(device.name(), offset, length, size);
        }
    }
}
