package dev.shadowcopy.provider.cow;

import dev.shadowcopy.platform.GroupSync;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Shadow storage (the VSS "diff area") of one volume: a file of chunk-sized slots holding preserved old
 * contents. Slot {@code n} is at byte {@code n * chunkSize}. Which slots are in use is not stored here; it is
 * derived from the {@link PreservationIndex} at open, so this file never needs its own metadata updates.
 *
 * <p>The lowest free slot is reused first to keep the file compact. Freed slots are punched (deallocated)
 * before they become reusable, so deleting shadow copies gives space back to the file system, and a punch
 * can never destroy a slot that was already reused.
 *
 * <p>Locking: {@code lock} guards the bitmap and counters, never held during I/O.
 */
final class DiffArea implements AutoCloseable {
    private final StorageFile file;
    private final GroupSync groupSync;
    private final int chunkSize;
    private final ReentrantLock lock = new ReentrantLock();
    private final BitSet used = new BitSet();
    private int usedCount;
    private long maxSlots;
    private int hint;

    DiffArea(StorageFile file, int chunkSize, long maxBytes) {
        this.file = file;
        this.groupSync = new GroupSync(file);
        this.chunkSize = chunkSize;
        setLimit(maxBytes);
    }

    /** Sets the maximum size in bytes ({@code Long.MAX_VALUE} for unbounded). Does not free anything. */
    void setLimit(long maxBytes) {
        lock.lock();
        try {
            maxSlots = Math.min(Integer.MAX_VALUE, maxBytes / chunkSize);
        } finally {
            lock.unlock();
        }
    }

    /** True when the slots in use exceed the limit (after the limit was lowered). */
    boolean overLimit() {
        lock.lock();
        try {
            return usedCount > maxSlots;
        } finally {
            lock.unlock();
        }
    }

    /** Claims a free slot, or returns -1 when the limit is reached. */
    int allocate() {
        lock.lock();
        try {
            if (usedCount >= maxSlots) {
                return -1;
            }
            int slot = used.nextClearBit(hint);
            if (slot < 0 || slot == Integer.MAX_VALUE) {
                return -1;
            }
            used.set(slot);
            usedCount++;
            hint = slot + 1;
            return slot;
        } finally {
            lock.unlock();
        }
    }

    /** Marks a slot in use while rebuilding state at open. */
    void markUsed(int slot) {
        lock.lock();
        try {
            if (!used.get(slot)) {
                used.set(slot);
                usedCount++;
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Returns slots that no record references any more: deallocates their space, then makes them
     * reusable. The caller guarantees that nothing reads them anymore.
     */
    void release(int[] slots) throws IOException {
        if (slots.length == 0) {
            return;
        }
        int[] sorted = slots.clone();
        Arrays.sort(sorted);
        IOException punchError = null;
        int runStart = 0;
        for (int i = 1; i <= sorted.length; i++) {
            if (i == sorted.length || sorted[i] != sorted[i - 1] + 1) {
                try {
                    file.punchHole((long) sorted[runStart] * chunkSize,
                            (long) (sorted[i - 1] - sorted[runStart] + 1) * chunkSize);
                } catch (IOException e) {
                    punchError = e; // the space is not returned, but the slots are still free for reuse
                }
                runStart = i;
            }
        }
        lock.lock();
        try {
            for (int s : sorted) {
                if (used.get(s)) {
                    used.clear(s);
                    usedCount--;
                }
            }
            hint = Math.min(hint, sorted[0]);
        } finally {
            lock.unlock();
        }
        if (punchError != null) {
            throw punchError;
        }
    }

    /** Gives a slot back without touching the file (it was allocated but never written or referenced). */
    void unallocate(int slot) {
        lock.lock();
        try {
            if (used.get(slot)) {
                used.clear(slot);
                usedCount--;
                hint = Math.min(hint, slot);
            }
        } finally {
            lock.unlock();
        }
    }

    void write(int slot, MemorySegment data) throws IOException {
        file.write((long) slot * chunkSize, data);
    }

    void read(int slot, long offsetInChunk, MemorySegment dst) throws IOException {
        file.read((long) slot * chunkSize + offsetInChunk, dst);
    }

    /** Makes all slot writes completed so far durable (group commit). */
    void sync() throws IOException {
        groupSync.sync();
    }

    long usedBytes() {
        lock.lock();
        try {
            return (long) usedCount * chunkSize;
        } finally {
            lock.unlock();
        }
    }

    int usedSlots() {
        lock.lock();
        try {
            return usedCount;
        } finally {
            lock.unlock();
        }
    }

    long maxBytes() {
        lock.lock();
        try {
            return maxSlots >= Integer.MAX_VALUE ? Long.MAX_VALUE : maxSlots * chunkSize;
        } finally {
            lock.unlock();
        }
    }

    /** Bytes the file occupies on disk (allocated extents), found with SEEK_DATA/SEEK_HOLE. */
    long allocatedBytes() throws IOException {
        long size = file.size();
        long total = 0;
        long pos = 0;
        while (pos < size) {
            long data = file.nextData(pos);
            if (data < 0 || data >= size) {
                break;
            }
            long hole = Math.min(size, file.nextHole(data));
            total += hole - data;
            pos = hole;
        }
        return total;
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
