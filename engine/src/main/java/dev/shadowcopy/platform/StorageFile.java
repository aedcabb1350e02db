package dev.shadowcopy.platform;

import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A file or block device opened for positional I/O. Every engine file (backing data, shadow storage,
 * journal, checkpoint) is reached through this interface so that tests can put a fault-injecting,
 * crash-simulating implementation underneath the real code.
 *
 * <p>Contract: positions and lengths are bytes; {@link #read} and {@link #write} transfer the whole
 * segment or throw. Nothing is durable until {@link #sync()} returns. Buffers must be native segments.
 * Implementations are safe for concurrent use by several threads (positional I/O has no shared cursor).
 */
public interface StorageFile extends Closeable {

    /** The file's name, for error messages. */
    String name();

    /** Current size in bytes (for a block device, its capacity). */
    long size() throws IOException;

    /** True when this is a block device rather than a regular file. */
    boolean isBlockDevice();

    /**
     * Reads {@code dst.byteSize()} bytes at {@code position}. Bytes beyond the end of a regular file read as
     * zeros (a sparse tail).
     */
    void read(long position, MemorySegment dst) throws IOException;

    /**
     * {@link #read} past the page cache where the storage can (a real file, the range and buffer aligned to 4 KiB:
     * O_DIRECT), for one-pass bulk readers; otherwise {@link #read}. The same bytes: before a direct read the kernel
     * writes back the range's dirty pages.
     */
    default void readUncached(long position, MemorySegment dst) throws IOException {
        read(position, dst);
    }

    /** Writes all of {@code src} at {@code position}, extending a regular file if needed. */
    void write(long position, MemorySegment src) throws IOException;

    /** Makes every completed write durable (fdatasync). */
    void sync() throws IOException;

    /**
     * Starts writing dirty pages to the device without waiting or making anything durable
     * (sync_file_range WRITE), so that a later {@link #sync()} has less to do. A hint: may do nothing.
     */
    default void startWriteback() throws IOException {}

    /**
     * Bytes of this file's page cache that are dirty or under write-back now (cachestat(2)), or -1 where that
     * cannot be known (older kernels, simulated storage). A hint for write-back pacing, never for durability.
     */
    default long dirtyBytes() {
        return -1;
    }

    /** Deallocates a range so that it reads as zeros (punch hole / discard); the size does not change. */
    void punchHole(long position, long length) throws IOException;

    /**
     * Reserves blocks for a range (fallocate): they read as zeros, and later writes into them need no block
     * allocation. A no-op where the file system cannot do it.
     */
    void allocate(long position, long length) throws IOException;

    /** Makes a range read as zeros, preferring an allocated-zero extent (zero range / zeroout). */
    void zeroRange(long position, long length) throws IOException;

    /**
     * Makes a range read as zeros: deallocated ({@link #punchHole}) when {@code deallocate}, else with the space kept
     * ({@link #zeroRange}). What NBD's WRITE_ZEROES with and without NO_HOLE ask of a volume's file.
     */
    default void zero(long position, long length, boolean deallocate) throws IOException {
        if (deallocate) {
            punchHole(position, length);
        } else {
            zeroRange(position, length);
        }
    }

    /**
     * The first offset ≥ {@code position} that holds data (SEEK_DATA), or -1 when there is none before the
     * end. Files without hole information report everything as data.
     */
    long nextData(long position) throws IOException;

    /** The first offset ≥ {@code position} that starts a hole (SEEK_HOLE); the size when there is none. */
    long nextHole(long position) throws IOException;

    /** Sets the size of a regular file. */
    void truncate(long size) throws IOException;
}
