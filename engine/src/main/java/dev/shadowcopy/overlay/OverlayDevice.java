package dev.shadowcopy.overlay;

import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.volume.BlockDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A throw-away writable layer over any block device: writes land in a sparse overlay file, reads come from
 * the overlay where a block was written and from the base elsewhere. The base is never written. Used to
 * expose a shadow copy whose file system needs journal replay, to boot a backup point before restoring it,
 * and for auto-recovery of application copies.
 *
 * <p>Granularity: 4 KiB blocks. A write that covers part of a block first copies that block from the base
 * (under the block's stripe lock), so the overlay always holds whole blocks. The written-block bitmap is set
 * only after the block's data is in the overlay file, so a reader sees either the base or the new data.
 *
 * <p>Nothing here is durable: the overlay is deleted on close and {@link #flush()} does nothing. Thread-safe.
 */
public final class OverlayDevice implements BlockDevice, AutoCloseable {
    private static final int SHIFT = 12;
    private static final int BLOCK = 1 << SHIFT;
    private static final int STRIPES = 1024;

    private final BlockDevice base;
    private final StorageFile overlay;
    private final Storage storage;
    private final Path path;
    private final String name;
    private final AtomicLongArray written;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    /** One block buffer per thread for partial first writes (GC-managed: threads come and go). */
    private final ThreadLocal<MemorySegment> blockBuffer =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(BLOCK, BLOCK));

    private OverlayDevice(BlockDevice base, Storage storage, Path path, StorageFile overlay, String name) {
        this.base = base;
        this.storage = storage;
        this.path = path;
        this.overlay = overlay;
        this.name = name;
        long blocks = (base.size() + BLOCK - 1) >>> SHIFT;
        this.written = new AtomicLongArray((int) ((blocks + 63) >>> 6));
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /** Creates an overlay over {@code base} in a new file {@code path} (which must not exist). */
    public static OverlayDevice create(BlockDevice base, Storage storage, Path path, String name) throws IOException {
        if (((base.size() + BLOCK - 1) >>> SHIFT) > (long) Integer.MAX_VALUE * 64) {
            throw new IOException("device too large for an overlay: " + base.size() + " bytes");
        }
        StorageFile f = storage.open(path, OpenMode.CREATE_NEW);
        try {
            f.truncate(base.size());
        } catch (IOException | RuntimeException e) {
            f.close();
            storage.delete(path);
            throw e;
        }
        return new OverlayDevice(base, storage, path, f, name);
    }

    private boolean isWritten(long block) {
        return (written.get((int) (block >>> 6)) & (1L << (block & 63))) != 0;
    }

    private void markWritten(long block) {
        int i = (int) (block >>> 6);
        long bit = 1L << (block & 63);
        long v;
        do {
            v = written.get(i);
        } while ((v & bit) == 0 && !written.compareAndSet(i, v, v | bit));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() {
        return base.size();
    }

    @Override
    public boolean isReadOnly() {
        return false;
    }

    @Override
    public int preferredBlockSize() {
        return Math.max(BLOCK, base.preferredBlockSize());
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        long end = offset + dst.byteSize();
        long pos = offset;
        while (pos < end) {
            long block = pos >>> SHIFT;
            boolean inOverlay = isWritten(block);
            long runEnd = Math.min(end, (block + 1) << SHIFT);
            // extend the run over blocks with the same source: one read each way
            while (runEnd < end && isWritten(runEnd >>> SHIFT) == inOverlay) {
                runEnd = Math.min(end, ((runEnd >>> SHIFT) + 1) << SHIFT);
            }
            MemorySegment piece = dst.asSlice(pos - offset, runEnd - pos);
            if (inOverlay) {
                overlay.read(pos, piece);
            } else {
                base.read(pos, piece);
            }
            pos = runEnd;
        }
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, src.byteSize());
        change(offset, src.byteSize(), src);
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        change(offset, length, null);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        change(offset, length, null);
    }

    /** Writes {@code src} (zeros if null) over the range, block by block. */
    private void change(long offset, long length, MemorySegment src) throws IOException {
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long block = pos >>> SHIFT;
            long blockStart = block << SHIFT;
            long blockEnd = Math.min(size(), blockStart + BLOCK);
            long pieceEnd = Math.min(end, blockEnd);
            ReentrantLock lock = stripes[(int) (block % STRIPES)];
            lock.lock();
            try {
                if (!isWritten(block) && (pos > blockStart || pieceEnd < blockEnd)) {
                    copyUp(blockStart, blockEnd); // a partial first write: the rest of the block comes from the base
                }
                if (src == null) {
                    overlay.zeroRange(pos, pieceEnd - pos);
                } else {
                    overlay.write(pos, src.asSlice(pos - offset, pieceEnd - pos));
                }
                markWritten(block);
            } finally {
                lock.unlock();
            }
            pos = pieceEnd;
        }
    }

    private void copyUp(long start, long end) throws IOException {
        MemorySegment piece = blockBuffer.get().asSlice(0, end - start);
        base.read(start, piece);
        overlay.write(start, piece);
    }

    @Override
    public void flush() {
        // throw-away: nothing is promised to survive
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long block = pos >>> SHIFT;
            boolean inOverlay = isWritten(block);
            long runEnd = Math.min(end, (block + 1) << SHIFT);
            while (runEnd < end && isWritten(runEnd >>> SHIFT) == inOverlay) {
                runEnd = Math.min(end, ((runEnd >>> SHIFT) + 1) << SHIFT);
            }
            if (inOverlay) {
                if (!visitor.extent(pos, runEnd - pos, 0)) {
                    return;
                }
            } else {
                boolean[] stop = {false};
                base.mapAllocation(pos, runEnd - pos, (o, l, f) -> {
                    boolean more = visitor.extent(o, l, f);
                    stop[0] = !more;
                    return more;
                });
                if (stop[0]) {
                    return;
                }
            }
            pos = runEnd;
        }
    }

    /** Bytes held in the overlay. */
    public long overlayBytes() {
        long n = 0;
        for (int i = 0; i < written.length(); i++) {
            n += Long.bitCount(written.get(i));
        }
        return n << SHIFT;
    }

    /** Discards the overlay file. */
    @Override
    public void close() throws IOException {
        try {
            overlay.close();
        } finally {
            storage.delete(path);
        }
    }
}
