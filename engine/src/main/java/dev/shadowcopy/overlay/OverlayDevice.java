package dev.shadowcopy.overlay;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
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
 * <p>A throw-away overlay ({@link #create}) is deleted on close and {@link #flush()} does nothing. A durable
 * one ({@link #createDurable}, reopened with {@link #openDurable}) keeps its files: {@link #flush()} makes every
 * write completed before it durable — the written-block map is copied, the data file synced, then the copy
 * published — so a map entry never names a block whose data could be lost; {@link #discard} deletes it.
 * (Exposed shadow copies use one: the file system mounted on it must find the same blocks after the service
 * restarts under it.) Sealing (auto-recovery of a shadow copy) makes it permanent and read-only: the overlay's data is
 * fsync'd, then its written-block map is published (temporary file, fsync, rename, directory fsync), so after a
 * crash either the map is there and every block it names is durable, or there is no map and the overlay is
 * discarded. A sealed overlay is reopened with {@link #openSealed}. Thread-safe.
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
    private volatile boolean sealed;
    /** Where a durable overlay publishes its map; null for a throw-away one. */
    private Path durableMap;
    /** Changes made (bumped after each block is marked); compared with {@link #publishedChanges} on flush. */
    private final java.util.concurrent.atomic.AtomicLong changes = new java.util.concurrent.atomic.AtomicLong();
    private long publishedChanges = -1;
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

    /**
     * Creates a durable overlay over {@code base}: data in {@code path} (which must not exist), map in
     * {@code mapPath}, published by {@link #flush()}.
     */
    public static OverlayDevice createDurable(BlockDevice base, Storage storage, Path path, Path mapPath, String name)
            throws IOException {
        storage.delete(mapPath);
        OverlayDevice o = create(base, storage, path, name);
        o.durableMap = mapPath;
        try {
            o.flush(); // an empty map first: a reopen after a crash finds a consistent pair
        } catch (IOException | RuntimeException e) {
            o.discard();
            throw e;
        }
        return o;
    }

    /** Reopens a durable overlay as of its last {@link #flush()}, writable. */
    public static OverlayDevice openDurable(BlockDevice base, Storage storage, Path path, Path mapPath, String name)
            throws IOException {
        OverlayDevice o = reopen(base, storage, path, mapPath, name, OpenMode.READ_WRITE);
        o.durableMap = mapPath;
        o.publishedChanges = 0;
        return o;
    }

    /** Closes a durable overlay and deletes its files. */
    public void discard() throws IOException {
        try {
            overlay.close();
        } finally {
            storage.delete(path);
            if (durableMap != null) {
                storage.delete(durableMap);
            }
        }
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
        return sealed;
    }

    public boolean sealed() {
        return sealed;
    }

    private static final int MAP_MAGIC = Formats.OVERLAY_MAP_MAGIC; // "SCOV"

    /** Makes the overlay permanent and read-only (see the class comment for the durability order). */
    public synchronized void seal(Path mapPath) throws IOException {
        overlay.sync();
        byte[] map = encodeMap(snapshot());
        sealed = true; // no write may slip in between the sync above and the map
        try {
            storage.publish(mapPath, map);
        } catch (IOException | RuntimeException e) {
            sealed = false;
            throw e;
        }
    }

    private long[] snapshot() {
        long[] m = new long[written.length()];
        for (int i = 0; i < m.length; i++) {
            m[i] = written.get(i);
        }
        return m;
    }

    private byte[] encodeMap(long[] map) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(20 + map.length * 8 + 4);
        b.putInt(MAP_MAGIC).putLong(base.size()).putInt(BLOCK).putInt(map.length);
        for (long w : map) {
            b.putLong(w);
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    private static long[] readMap(BlockDevice base, Storage storage, Path mapPath) throws IOException {
        byte[] m = storage.readAll(mapPath);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(m);
        long blocks = (base.size() + BLOCK - 1) >>> SHIFT;
        int n = (int) ((blocks + 63) >>> 6);
        if (m.length != 20 + n * 8 + 4 || b.getInt() != MAP_MAGIC || b.getLong() != base.size() || b.getInt() != BLOCK
                || b.getInt() != n) {
            throw new dev.shadowcopy.device.VolumeException(dev.shadowcopy.device.VolumeException.Code.CORRUPT,
                    "overlay map " + mapPath + " does not match " + base.name());
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(m, 0, m.length - 4);
        if ((int) crc.getValue() != java.nio.ByteBuffer.wrap(m, m.length - 4, 4).getInt()) {
            throw new dev.shadowcopy.device.VolumeException(dev.shadowcopy.device.VolumeException.Code.CORRUPT,
                    "overlay map " + mapPath + " fails its checksum");
        }
        long[] map = new long[n];
        for (int i = 0; i < n; i++) {
            map[i] = b.getLong();
        }
        return map;
    }

    /** Reopens a sealed overlay (read-only) from its data file and map. */
    public static OverlayDevice openSealed(BlockDevice base, Storage storage, Path dataPath, Path mapPath, String name)
            throws IOException {
        OverlayDevice o = reopen(base, storage, dataPath, mapPath, name, OpenMode.READ);
        o.sealed = true;
        return o;
    }

    private static OverlayDevice reopen(BlockDevice base, Storage storage, Path dataPath, Path mapPath, String name,
                                        OpenMode mode) throws IOException {
        long[] map = readMap(base, storage, mapPath);
        StorageFile f = storage.open(dataPath, mode);
        OverlayDevice o = new OverlayDevice(base, storage, dataPath, f, name);
        for (int i = 0; i < map.length; i++) {
            o.written.set(i, map[i]);
        }
        return o;
    }

    /** Reports the runs of blocks held in the overlay, flag 1 (as change maps do). */
    public void writtenExtents(ExtentVisitor visitor) throws IOException {
        long blocks = (base.size() + BLOCK - 1) >>> SHIFT;
        long b = 0;
        while (b < blocks) {
            if (!isWritten(b)) {
                b++;
                continue;
            }
            long e = b;
            while (e < blocks && isWritten(e)) {
                e++;
            }
            long off = b << SHIFT;
            if (!visitor.extent(off, Math.min(base.size(), e << SHIFT) - off, 1)) {
                return;
            }
            b = e;
        }
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
        if (sealed) {
            throw new dev.shadowcopy.device.ReadOnlyException(name);
        }
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
                changes.incrementAndGet();
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

    /**
     * Throw-away overlay: nothing (nothing is promised to survive). Durable overlay: the map as of now, then
     * the data synced, then that map published — every block it names was written before the copy was taken,
     * hence before the sync.
     */
    @Override
    public void flush() throws IOException {
        if (durableMap == null) {
            return;
        }
        synchronized (this) {
            long c = changes.get();
            if (c == publishedChanges) {
                return;
            }
            long[] map = snapshot();
            overlay.sync();
            storage.publish(durableMap, encodeMap(map));
            publishedChanges = c;
        }
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

    /**
     * Closes the overlay; a throw-away one is discarded (its file deleted), a sealed or durable one stays (as of
     * its seal or last flush).
     */
    @Override
    public void close() throws IOException {
        try {
            overlay.close();
        } finally {
            if (!sealed && durableMap == null) {
                storage.delete(path);
            }
        }
    }
}
