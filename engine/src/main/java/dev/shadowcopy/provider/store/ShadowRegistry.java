package dev.shadowcopy.provider.store;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The shadow copies of one volume and the "live set": the epochs of every copy that may still be read and
 * therefore still needs its preserved chunks.
 *
 * <p>The live set is an immutable sorted array published through a volatile field, so the write path asks
 * "does any copy need this chunk's current content?" ({@link #anyLiveIn}) without a lock.
 *
 * <p>Locking: {@code lock} guards the map and every phase transition; it is a leaf lock (nothing else is
 * acquired while holding it). Each shadow's {@code readers} lock is held shared by readers of that copy and
 * exclusively by its deletion, so preserved chunks are never freed under a reader.
 */
public final class ShadowRegistry {

    /** Lifecycle of one shadow copy inside the engine. */
    public enum Phase {
        /** Epoch closed, writes preserve for it, but not yet durable: invisible to queries. */
        PENDING,
        /** Its creation record is being made durable. */
        COMMITTING,
        /** Durable and readable. */
        COMMITTED,
        /** Being deleted: no new readers; still in the live set until its deletion record is durable. */
        DELETING,
        /** Gone. */
        DELETED,
        /** Creation abandoned; never existed durably. */
        ABORTED
    }

    /** One shadow copy. */
    public static final class Shadow {
        public final UUID id;
        public final int epoch;
        public final long createdMillis;
        public final boolean persistent;
        public final ReentrantReadWriteLock readers = new ReentrantReadWriteLock();
        private Phase phase;

        Shadow(UUID id, int epoch, long createdMillis, boolean persistent, Phase phase) {
            this.id = id;
            this.epoch = epoch;
            this.createdMillis = createdMillis;
            this.persistent = persistent;
            this.phase = phase;
        }

    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Map<UUID, Shadow> byId = new HashMap<>();
    private volatile int[] liveEpochs = new int[0];
    private volatile int[] persistentEpochs = new int[0];

    /** True if a shadow copy that still needs data has its epoch in {@code [from, toExclusive)}. */
    public boolean anyLiveIn(int from, int toExclusive) {
        return anyIn(liveEpochs, from, toExclusive);
    }

    /**
     * True if a persistent shadow copy that still needs data has its epoch in {@code [from, toExclusive)}: only
     * those must find their preserved data after a crash (non-persistent copies are released at open).
     */
    public boolean anyPersistentLiveIn(int from, int toExclusive) {
        return anyIn(persistentEpochs, from, toExclusive);
    }

    private static boolean anyIn(int[] live, int from, int toExclusive) {
        int i = Arrays.binarySearch(live, from);
        if (i < 0) {
            i = -i - 1;
        }
        return i < live.length && live[i] < toExclusive;
    }

    public int liveCount() {
        return liveEpochs.length;
    }

    /** Adds a shadow copy in the given phase (PENDING at runtime, COMMITTED at replay). */
    public Shadow add(UUID id, int epoch, long createdMillis, boolean persistent, Phase phase) {
        lock.lock();
        try {
            Shadow s = new Shadow(id, epoch, createdMillis, persistent, phase);
            Shadow previous = byId.putIfAbsent(id, s);
            if (previous != null && previous.phase != Phase.DELETED && previous.phase != Phase.ABORTED) {
                throw new IllegalStateException("shadow copy " + id + " already exists");
            }
            byId.put(id, s);
            republish();
            return s;
        } finally {
            lock.unlock();
        }
    }

    public Shadow get(UUID id) {
        lock.lock();
        try {
            return byId.get(id);
        } finally {
            lock.unlock();
        }
    }

    public Phase phase(Shadow s) {
        lock.lock();
        try {
            return s.phase;
        } finally {
            lock.unlock();
        }
    }

    /** Moves {@code s} from {@code expected} to {@code next}; false (and no change) if it was elsewhere. */
    public boolean transition(Shadow s, Phase expected, Phase next) {
        lock.lock();
        try {
            if (s.phase != expected) {
                return false;
            }
            s.phase = next;
            if (next == Phase.DELETED || next == Phase.ABORTED) {
                byId.remove(s.id, s);
            }
            republish();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Copies in the given phases, oldest first. */
    public List<Shadow> inPhases(Phase... phases) {
        lock.lock();
        try {
            List<Shadow> out = new ArrayList<>();
            for (Shadow s : byId.values()) {
                for (Phase p : phases) {
                    if (s.phase == p) {
                        out.add(s);
                        break;
                    }
                }
            }
            out.sort(Comparator.comparingInt(s -> s.epoch));
            return out;
        } finally {
            lock.unlock();
        }
    }

    private void republish() {
        List<Shadow> live = byId.values().stream()
                .filter(s -> s.phase == Phase.PENDING || s.phase == Phase.COMMITTING || s.phase == Phase.COMMITTED
                        || s.phase == Phase.DELETING)
                .toList();
        // persistent first: a reader that sees a copy in liveEpochs also sees it here if it is persistent
        persistentEpochs = live.stream().filter(s -> s.persistent).mapToInt(s -> s.epoch).sorted().toArray();
        liveEpochs = live.stream().mapToInt(s -> s.epoch).sorted().toArray();
    }
}
