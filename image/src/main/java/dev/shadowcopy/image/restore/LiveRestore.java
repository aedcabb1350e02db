package dev.shadowcopy.image.restore;

import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * A restore the guest uses while it runs (live migration, Veeam's Instant Recovery + Quick Migration): a target device
 * (a managed volume) that is filled from a source (a backup point in a repository, or one served with a durable
 * overlay) in the background, and served meanwhile as if it were already whole.
 *
 * <p><b>Read path.</b> Per chunk (the repository's chunk size): from the target if the chunk is in place
 * ({@link PresentMap}), else from the source. No lock: a chunk's bit is set only after its data is in the target, and
 * a read racing a write to the same bytes may return either, as on any disk.
 *
 * <p><b>Write path.</b> To a chunk in place: straight to the target. To a chunk not yet in place, under the chunk's
 * stripe lock: a write covering the whole chunk goes to the target as it is; a partial one is merged into the chunk as
 * read from the source and the whole chunk written. Then the chunk's bit is set (memory, then the map's log) —
 * <em>before</em> the write is acknowledged, so that a daemon killed right after cannot copy the source over it. The
 * background copy takes the same lock and re-checks the bit, so it never overwrites a guest's write.
 *
 * <p><b>Durability.</b> A flush (or FUA write): the map's bits as of now, then the target flushed, then those bits
 * published — every published bit names data that was durable first. What a flush acknowledged therefore survives
 * power loss; what a write acknowledged survives the death of the process (the log; see {@link PresentMap}).
 *
 * <p><b>The copy</b> ({@link #copy}) walks the chunks in order on the caller's threads, skipping those in place;
 * chunks the source reports as zeros are zeroed on the target (deallocated where it can), others read and written
 * whole. Progress is published every {@link #PUBLISH_EVERY} chunks (a flush), so a restart after power loss repeats
 * little. When every chunk is in place the target is whole and the source is no longer read.
 *
 * <p>Bytes beyond the source's size (a target larger than the backup) are the target's own and never copied.
 *
 * <p>Thread-safety: every method may be called concurrently. Locks: a chunk's stripe lock (guest writes to chunks not
 * yet in place, and the copy) is taken before a log word's lock ({@link PresentMap#markPresent}); {@link #flush}
 * serialises on its own lock and takes neither.
 */
public final class LiveRestore implements BlockDevice, AutoCloseable {
    /** Chunks copied between two publications of the progress. */
    static final int PUBLISH_EVERY = 64;
    private static final int STRIPES = 1024;

    private final BlockDevice target;
    private final BlockDevice source;
    private final PresentMap map;
    private final String name;
    private final long sourceSize;
    private final int cs;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    private final Object flushLock = new Object();
    private final AtomicLong copied = new AtomicLong();
    /** Every chunk in place and published, the progress files given up: the target alone, passed through. */
    private volatile boolean finished;
    private final ThreadLocal<MemorySegment> chunkBuffer;

    private LiveRestore(BlockDevice target, BlockDevice source, PresentMap map, String name) {
        this.target = target;
        this.source = source;
        this.map = map;
        this.name = name;
        this.sourceSize = source.size();
        this.cs = map.chunkSize();
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
        this.chunkBuffer = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(cs, 4096));
    }

    private static void check(BlockDevice target, BlockDevice source, int chunkSize) {
        if (target.size() < source.size()) {
            throw new IllegalArgumentException("target " + target.name() + " has " + target.size() + " bytes, the "
                    + "source " + source.size());
        }
        if (chunkSize < 4096 || chunkSize % 4096 != 0) {
            throw new IllegalArgumentException("chunk size " + chunkSize + " (expected: a multiple of 4 KiB)");
        }
    }

    private static long chunksOf(BlockDevice source, int chunkSize) {
        return (source.size() + chunkSize - 1) / chunkSize;
    }

    /**
     * Starts a live restore of {@code source} into {@code target}, with its progress in {@code dir} (made, with an
     * empty published map). The caller has marked the target so that nothing uses it bare until {@link #complete}.
     */
    public static LiveRestore start(BlockDevice target, BlockDevice source, Storage storage, Path dir, int chunkSize,
                                    UUID bootId, String name) throws IOException {
        check(target, source, chunkSize);
        return new LiveRestore(target, source, PresentMap.create(storage, dir, chunkSize, chunksOf(source, chunkSize),
                bootId), name);
    }

    /** Resumes the live restore whose progress is in {@code dir}, after a restart of the process or the machine. */
    public static LiveRestore resume(BlockDevice target, BlockDevice source, Storage storage, Path dir, int chunkSize,
                                     UUID bootId, String name) throws IOException {
        check(target, source, chunkSize);
        return new LiveRestore(target, source, PresentMap.open(storage, dir, chunkSize, chunksOf(source, chunkSize),
                bootId), name);
    }

    /** Removes the progress files of a finished (or abandoned) live restore. */
    public static void deleteProgress(Storage storage, Path dir) throws IOException {
        PresentMap.delete(storage, dir);
    }

    /** Chunks of the source, and how many are in place. */
    public record Progress(long chunks, long present, int chunkSize, long sourceSize, long copiedBytes) {
        public boolean complete() {
            return present == chunks;
        }

        /** Bytes in place (chunks in place × chunk size, the last one counted short). */
        public long bytesInPlace() {
            return Math.min(sourceSize, present * chunkSize);
        }
    }

    public Progress progress() {
        return new Progress(map.chunks(), map.presentCount(), cs, sourceSize, copied.get());
    }

    /** True when every chunk is in place: the target is whole. */
    public boolean complete() {
        return map.complete();
    }

    public BlockDevice target() {
        return target;
    }

    // ---------------------------------------------------------------- BlockDevice

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() {
        return target.size();
    }

    @Override
    public boolean isReadOnly() {
        return target.isReadOnly();
    }

    @Override
    public int preferredBlockSize() {
        return target.preferredBlockSize();
    }

    private boolean inPlace(long offset) {
        return offset >= sourceSize || map.isPresent(offset / cs);
    }

    /** Where the chunk holding {@code pos} ends (the source's end for its last chunk; beyond it, {@code end}). */
    private long chunkEnd(long pos, long end) {
        return pos >= sourceSize ? end : Math.min(end, Math.min(sourceSize, (pos / cs + 1) * cs));
    }

    /** The end of the run starting at {@code pos} whose chunks are all in place, or all not ({@code present}). */
    private long runEnd(long pos, long end, boolean present) {
        long e = chunkEnd(pos, end);
        while (e < end && inPlace(e) == present) {
            e = chunkEnd(e, end);
        }
        return e;
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        long end = offset + dst.byteSize();
        long pos = offset;
        while (pos < end) {
            boolean present = inPlace(pos);
            long e = runEnd(pos, end, present);
            MemorySegment piece = dst.asSlice(pos - offset, e - pos);
            if (present) {
                target.read(pos, piece);
            } else {
                source.read(pos, piece);
            }
            pos = e;
        }
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, src.byteSize());
        change(offset, src.byteSize(), src);
        if (fua) {
            flush();
        }
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        writeZeroes(offset, length, true, fua);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        change(offset, length, null);
        if (fua) {
            flush();
        }
    }

    /** Writes {@code src} (zeros when null) over the range: runs in place directly, other chunks one by one. */
    private void change(long offset, long length, MemorySegment src) throws IOException {
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            if (inPlace(pos)) {
                long e = runEnd(pos, end, true);
                put(pos, e - pos, src == null ? null : src.asSlice(pos - offset, e - pos));
                pos = e;
                continue;
            }
            long c = pos / cs;
            long chunkStart = c * cs;
            long chunkEnd = Math.min(sourceSize, chunkStart + cs);
            long pieceEnd = Math.min(end, chunkEnd);
            MemorySegment piece = src == null ? null : src.asSlice(pos - offset, pieceEnd - pos);
            ReentrantLock lock = stripes[(int) (c % STRIPES)];
            lock.lock();
            try {
                if (map.isPresent(c)) {
                    put(pos, pieceEnd - pos, piece); // the copy (or another write) got here first
                } else if (pos == chunkStart && pieceEnd == chunkEnd) {
                    put(pos, pieceEnd - pos, piece);
                    map.markPresent(c);
                } else {
                    MemorySegment whole = chunkBuffer.get().asSlice(0, chunkEnd - chunkStart);
                    source.read(chunkStart, whole);
                    MemorySegment at = whole.asSlice(pos - chunkStart, pieceEnd - pos);
                    if (piece == null) {
                        at.fill((byte) 0);
                    } else {
                        at.copyFrom(piece);
                    }
                    target.write(chunkStart, whole, false);
                    map.markPresent(c); // after the data, before the acknowledgement
                }
            } finally {
                lock.unlock();
            }
            pos = pieceEnd;
        }
    }

    private void put(long pos, long len, MemorySegment data) throws IOException {
        if (data == null) {
            target.writeZeroes(pos, len, true, false);
        } else {
            target.write(pos, data, false);
        }
    }

    /** The bits as of now, the target flushed, then those bits published (see the class comment). */
    @Override
    public void flush() throws IOException {
        synchronized (flushLock) {
            if (finished) {
                target.flush();
                return;
            }
            long[] snapshot = map.snapshot();
            target.flush();
            map.publish(snapshot);
        }
    }

    /**
     * Ends a complete restore: its last progress published, then from now on a pass-through to the target (the
     * progress files may be deleted; nothing writes them again). Refused while chunks are missing.
     */
    public void finish() throws IOException {
        synchronized (flushLock) {
            if (finished) {
                return;
            }
            if (!map.complete()) {
                throw new IllegalStateException(name + ": " + (map.chunks() - map.presentCount()) + " chunks are not "
                        + "in place yet");
            }
            flush();
            finished = true;
            map.close();
        }
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            boolean present = inPlace(pos);
            long e = runEnd(pos, end, present);
            boolean[] stop = {false};
            (present ? target : source).mapAllocation(pos, e - pos, (o, l, f) -> {
                boolean more = visitor.extent(o, l, f);
                stop[0] = !more;
                return more;
            });
            if (stop[0]) {
                return;
            }
            pos = e;
        }
    }

    // ---------------------------------------------------------------- the copy

    /** Limits the copy's pace; {@link #NONE} does not. */
    @FunctionalInterface
    public interface Pace {
        Pace NONE = bytes -> { };

        /** Called after {@code bytes} were copied; may sleep. */
        void copied(long bytes) throws InterruptedException;
    }

    /**
     * Copies every chunk not yet in place, from {@code first} on, taking one chunk in {@code stride} (threads share the
     * work by calling this with {@code first} 0..stride-1), until done or {@code stop} says so. Returns true when this
     * caller's share is done. Progress is published every {@link #PUBLISH_EVERY} chunks and at the end.
     */
    public boolean copy(int first, int stride, Pace pace, BooleanSupplier stop) throws IOException,
            InterruptedException {
        long n = map.chunks();
        int since = 0;
        for (long c = first; c < n; c += stride) {
            if (stop.getAsBoolean()) {
                flush();
                return false;
            }
            if (map.isPresent(c)) {
                continue;
            }
            long len = copyChunk(c);
            if (len > 0) {
                copied.addAndGet(len);
                pace.copied(len);
                if (++since >= PUBLISH_EVERY) {
                    flush();
                    since = 0;
                }
            }
        }
        flush();
        return true;
    }

    /** Copies chunk {@code c} unless a write got there first; returns the bytes copied. */
    private long copyChunk(long c) throws IOException {
        long start = c * cs;
        long len = Math.min(cs, sourceSize - start);
        ReentrantLock lock = stripes[(int) (c % STRIPES)];
        lock.lock();
        try {
            if (map.isPresent(c)) {
                return 0;
            }
            if (readsAsZeros(start, len)) {
                target.writeZeroes(start, len, true, false);
            } else {
                MemorySegment buf = chunkBuffer.get().asSlice(0, len);
                source.read(start, buf);
                target.write(start, buf, false);
            }
            map.markPresent(c);
            return len;
        } finally {
            lock.unlock();
        }
    }

    private boolean readsAsZeros(long start, long len) throws IOException {
        boolean[] zero = {true};
        source.mapAllocation(start, len, (o, l, f) -> {
            zero[0] &= (f & EXTENT_ZERO) != 0;
            return zero[0];
        });
        return zero[0];
    }

    /** Publishes the progress (a flush) and lets go of the map; the target and source are the caller's. */
    @Override
    public void close() throws IOException {
        synchronized (flushLock) {
            if (finished) {
                return;
            }
            try {
                flush();
            } finally {
                map.close();
            }
        }
    }
}
