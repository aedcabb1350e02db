package dev.shadowcopy.provider.store;

import java.util.Arrays;
import java.util.concurrent.locks.StampedLock;

/**
 * Where the old versions of chunks are: for each chunk, a chain of records {@code (from, to, slot)} meaning
 * "the content this chunk had from epoch {@code from} through the end of epoch {@code to} is in
 * shadow-storage slot {@code slot}" ({@link #ZERO} when that content was all zeros or a hole and nothing was
 * stored; {@link #BASE} when it is still in the volume's base file — redirect-on-write). A shadow copy taken
 * at the end of epoch {@code s} reads a chunk from the record with {@code from <= s <= to}, or from the live
 * version when the chunk has not been written since.
 *
 * <p>Invariants: the records of one chunk have disjoint ranges and are chained newest first; a slot belongs
 * to at most one record. Storage is primitive arrays (no object per record) so that a million records cost
 * about 28 MB and the read path allocates nothing.
 *
 * <p>Thread-safety: mutations take the write lock; {@link #find} runs under an optimistic read and retries
 * under the read lock if a mutation raced it.
 */
public final class VersionIndex {
    public static final int ZERO = -1;
    public static final int NOT_FOUND = -2;
    /** The version is in the base file at the chunk's own offset (redirect-on-write). */
    public static final int BASE = -3;
    private static final int NONE = -1;

    private final StampedLock lock = new StampedLock();
    private final PagedInts head; // chunk -> record id + 1 (0 = no record)
    private final PagedInts slotOwner = new PagedInts(); // slot -> record id + 1
    private long[] chunk = new long[1024];
    private int[] from = new int[1024];
    private int[] to = new int[1024];
    private int[] slot = new int[1024];
    private int[] next = new int[1024];
    private int used; // high-water mark of record ids
    private int freeList = NONE;
    private int live;

    public VersionIndex(long chunks) {
        this.head = new PagedInts();
        if (chunks < 0) {
            throw new IllegalArgumentException("chunks " + chunks);
        }
    }

    /** Number of records. */
    public int size() {
        long stamp = lock.readLock();
        try {
            return live;
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /**
     * Adds a record. If another record already owns {@code slotOfRecord}, that one is dropped first: the
     * journal replays slot reuse in order, and a slot is only reused after its previous record was freed.
     *
     * @return the record id
     */
    public int insert(long chunkIndex, int fromEpoch, int toEpoch, int slotOfRecord) {
        if (fromEpoch > toEpoch) {
            throw new IllegalArgumentException("record range " + fromEpoch + ".." + toEpoch);
        }
        long stamp = lock.writeLock();
        try {
            if (slotOfRecord >= 0) {
                int owner = slotOwner.get(slotOfRecord) - 1;
                if (owner != NONE) {
                    removeLocked(owner);
                }
            }
            int id = allocateRecord();
            chunk[id] = chunkIndex;
            from[id] = fromEpoch;
            to[id] = toEpoch;
            slot[id] = slotOfRecord;
            // insert sorted by 'from', newest first; drop an older record with the same range (replay repeat)
            int prev = NONE;
            int cur = head.get(chunkIndex) - 1;
            while (cur != NONE && from[cur] > fromEpoch) {
                prev = cur;
                cur = next[cur];
            }
            if (cur != NONE && from[cur] == fromEpoch) {
                int dup = cur;
                cur = next[cur];
                unlinkSlot(dup);
                freeRecord(dup);
                live--;
            }
            next[id] = cur;
            if (prev == NONE) {
                head.set(chunkIndex, id + 1);
            } else {
                next[prev] = id;
            }
            if (slotOfRecord >= 0) {
                slotOwner.set(slotOfRecord, id + 1);
            }
            live++;
            return id;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /**
     * The slot holding chunk {@code chunkIndex} as of the end of epoch {@code epoch}: a slot number, {@link #ZERO},
     * or {@link #NOT_FOUND}.
     */
    public int find(long chunkIndex, int epoch) {
        long stamp = lock.tryOptimisticRead();
        if (stamp != 0) {
            int result = findUnlocked(chunkIndex, epoch, true);
            if (lock.validate(stamp)) {
                return result;
            }
        }
        stamp = lock.readLock();
        try {
            return findUnlocked(chunkIndex, epoch, false);
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /** The epoch in which the content a copy at {@code epoch} sees was written, or -1 if no record holds it. */
    public int versionEpoch(long chunkIndex, int epoch) {
        long stamp = lock.readLock();
        try {
            int cur = head.get(chunkIndex) - 1;
            while (cur != NONE) {
                if (from[cur] <= epoch) {
                    return epoch <= to[cur] ? from[cur] : -1;
                }
                cur = next[cur];
            }
            return -1;
        } finally {
            lock.unlockRead(stamp);
        }
    }

    private int findUnlocked(long chunkIndex, int epoch, boolean optimistic) {
        int[] fromA = from;
        int[] toA = to;
        int[] slotA = slot;
        int[] nextA = next;
        int cur = head.getRacy(chunkIndex) - 1;
        for (int steps = 0; cur != NONE; steps++) {
            if (optimistic && (cur < 0 || cur >= fromA.length || cur >= nextA.length || steps > 1_000_000)) {
                return NOT_FOUND; // torn view of a concurrent mutation; validate() fails and we retry locked
            }
            if (fromA[cur] <= epoch) {
                return epoch <= toA[cur] ? slotA[cur] : NOT_FOUND;
            }
            cur = nextA[cur];
        }
        return NOT_FOUND;
    }

    /**
     * The {@code from} of chunk {@code chunkIndex}'s record at {@code location} for which {@code wanted} holds, or
     * -1 (redirect-on-write after a revert: the live version shares its location with a copy's version).
     */
    public int findAt(long chunkIndex, int location, RecordPredicate wanted) {
        long stamp = lock.readLock();
        try {
            for (int cur = head.get(chunkIndex) - 1; cur != NONE; cur = next[cur]) {
                if (slot[cur] == location && wanted.test(chunkIndex, from[cur], to[cur], slot[cur])) {
                    return from[cur];
                }
            }
            return -1;
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /**
     * Widens chunk {@code chunkIndex}'s record that starts at {@code fromEpoch} at {@code location} so that it ends
     * at {@code newTo} (never narrows). Returns false if there is no such record.
     */
    public boolean extend(long chunkIndex, int fromEpoch, int location, int newTo) {
        long stamp = lock.writeLock();
        try {
            for (int cur = head.get(chunkIndex) - 1; cur != NONE; cur = next[cur]) {
                if (from[cur] == fromEpoch && slot[cur] == location) {
                    to[cur] = Math.max(to[cur], newTo);
                    return true;
                }
            }
            return false;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** Drops the record that owns {@code slotNumber}, if any (replay: a later claim of the slot wins). */
    public void releaseSlot(int slotNumber) {
        long stamp = lock.writeLock();
        try {
            int owner = slotOwner.get(slotNumber) - 1;
            if (owner != NONE) {
                removeLocked(owner);
            }
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** True if a record of {@code chunkIndex} is at {@code location} (e.g. {@link #BASE}). */
    public boolean references(long chunkIndex, int location) {
        long stamp = lock.readLock();
        try {
            for (int cur = head.get(chunkIndex) - 1; cur != NONE; cur = next[cur]) {
                if (slot[cur] == location) {
                    return true;
                }
            }
            return false;
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /** Removes a record (by id) and returns its slot. */
    public int remove(int id) {
        long stamp = lock.writeLock();
        try {
            return removeLocked(id);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    private int removeLocked(int id) {
        long c = chunk[id];
        int prev = NONE;
        int cur = head.get(c) - 1;
        while (cur != NONE && cur != id) {
            prev = cur;
            cur = next[cur];
        }
        if (cur == NONE) {
            throw new IllegalStateException("record " + id + " is not in the chain of chunk " + c);
        }
        if (prev == NONE) {
            head.set(c, next[id] + 1);
        } else {
            next[prev] = next[id];
        }
        int s = slot[id];
        unlinkSlot(id);
        freeRecord(id);
        live--;
        return s;
    }

    private void unlinkSlot(int id) {
        int s = slot[id];
        if (s >= 0 && slotOwner.get(s) - 1 == id) {
            slotOwner.set(s, 0);
        }
    }

    /** Visits every record; the visitor may not mutate the index. */
    public void forEach(RecordVisitor visitor) {
        long stamp = lock.readLock();
        try {
            forEachLocked(visitor);
        } finally {
            lock.unlockRead(stamp);
        }
    }

    private void forEachLocked(RecordVisitor visitor) {
        for (int id = 0; id < used; id++) {
            if (from[id] >= 0) {
                visitor.record(id, chunk[id], from[id], to[id], slot[id]);
            }
        }
    }

    /** Removes every record the predicate selects; returns their slots (ZERO records are not listed). */
    public int[] removeIf(RecordPredicate predicate) {
        long stamp = lock.writeLock();
        try {
            int[] freed = new int[16];
            int n = 0;
            for (int id = 0; id < used; id++) {
                if (from[id] >= 0 && predicate.test(chunk[id], from[id], to[id], slot[id])) {
                    int s = removeLocked(id);
                    if (s >= 0) {
                        if (n == freed.length) {
                            freed = Arrays.copyOf(freed, n * 2);
                        }
                        freed[n++] = s;
                    }
                }
            }
            return Arrays.copyOf(freed, n);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** A deep copy for a checkpoint. */
    public VersionIndex copy(long chunks) {
        VersionIndex copy = new VersionIndex(chunks);
        long stamp = lock.readLock();
        try {
            forEachLocked((id, c, f, t, s) -> copy.insert(c, f, t, s));
        } finally {
            lock.unlockRead(stamp);
        }
        return copy;
    }

    private int allocateRecord() {
        if (freeList != NONE) {
            int id = freeList;
            freeList = next[id];
            return id;
        }
        if (used == from.length) {
            int n = from.length * 2;
            chunk = Arrays.copyOf(chunk, n);
            from = Arrays.copyOf(from, n);
            to = Arrays.copyOf(to, n);
            slot = Arrays.copyOf(slot, n);
            next = Arrays.copyOf(next, n);
        }
        return used++;
    }

    private void freeRecord(int id) {
        from[id] = -1; // marks the record free for forEach
        to[id] = -1;
        next[id] = freeList;
        freeList = id;
    }

    @FunctionalInterface
    public interface RecordVisitor {
        void record(int id, long chunk, int from, int to, int slot);
    }

    @FunctionalInterface
    public interface RecordPredicate {
        boolean test(long chunk, int from, int to, int slot);
    }

    /** A lazily paged int array (zero by default); plain access, guarded by the index lock. */
    private static final class PagedInts {
        private static final int SHIFT = 14;
        private static final int MASK = (1 << SHIFT) - 1;
        private volatile int[][] pages = new int[16][];

        int get(long index) {
            int[][] p = pages;
            int pi = (int) (index >>> SHIFT);
            if (pi >= p.length || p[pi] == null) {
                return 0;
            }
            return p[pi][(int) (index & MASK)];
        }

        /** Like get, but tolerant of a concurrent page-table growth (optimistic readers). */
        int getRacy(long index) {
            return get(index);
        }

        void set(long index, int value) {
            int pi = (int) (index >>> SHIFT);
            int[][] p = pages;
            if (pi >= p.length) {
                if (value == 0) {
                    return;
                }
                p = Arrays.copyOf(p, Math.max(pi + 1, p.length * 2));
                pages = p;
            }
            if (p[pi] == null) {
                if (value == 0) {
                    return;
                }
                p[pi] = new int[1 << SHIFT];
            }
            p[pi][(int) (index & MASK)] = value;
        }
    }
}
