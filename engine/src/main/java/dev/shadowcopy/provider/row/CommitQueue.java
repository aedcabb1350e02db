package dev.shadowcopy.provider.row;

import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.GroupSync;
import dev.shadowcopy.platform.NoSpaceException;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.JournalRecord;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.MetaGate;
import dev.shadowcopy.provider.store.SlotStore;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Redirect-on-write's group commit: a write needs no sync before it is acknowledged (a copy's data is never
 * overwritten), so the record that moves a chunk's live version ({@code LIVE}) waits here, and a commit (flush, FUA,
 * copy creation, checkpoint, or every {@value #INTERVAL_MS} ms in the background) makes the queue durable in this
 * order: shadow storage and the origin synced (the new data is durable) → records appended and the journal synced
 * (the new locations are durable) → only then are the slots those records freed reusable. A record that must be
 * durable right away ({@link #commitWith}) goes after everything queued before it: the journal's order is always the
 * order in which changes were made in memory.
 *
 * <p>A failed sync leaves the files in an unknowable state; appending the same records again would put duplicates
 * after later ones. The volume then stops ({@link #checkNotFailed}) until it is reopened and recovered from its
 * journal.
 *
 * <p>Locking: {@code pendingLock} (a leaf) guards the queue. A commit holds the engine's metaGate shared, then its
 * {@code roomLock}, then {@code commitLock}: roomLock before commitLock always, because a commit whose records do not
 * fit releases copies (under roomLock) while it holds the commit lock, and making room for a write commits while it
 * holds roomLock (RowLockOrderTest).
 */
final class CommitQueue {
    static final long INTERVAL_MS = 1000;
    private static final System.Logger LOG = System.getLogger(CommitQueue.class.getName());

    /** What a commit needs from its engine. */
    interface Engine {
        /** The current journal generation. */
        Journal<JournalRecord> journal();

        /**
         * The journal's file system is full while a commit appends: release the oldest copy the owner lets go (its
         * shadow storage may share the file system), or rethrow {@code full} when none can go. Caller holds roomLock
         * and commitLock.
         */
        void makeRoomForRecords(NoSpaceException full) throws IOException;
    }

    private final String volume;
    private final Engine engine;
    private final MetaGate metaGate;
    private final ReentrantLock roomLock;
    private final ReentrantLock commitLock = new ReentrantLock();
    private final ReentrantLock pendingLock = new ReentrantLock();
    private final SlotStore slots;
    private final GroupSync originSync;
    private List<JournalRecord> pendingRecords = new ArrayList<>();
    private List<Integer> pendingFrees = new ArrayList<>();
    private volatile Exception failure;
    private volatile boolean stopped;
    private ScheduledFuture<?> periodic;

    CommitQueue(String volume, Engine engine, MetaGate metaGate, ReentrantLock roomLock, SlotStore slots,
                GroupSync originSync) {
        this.volume = volume;
        this.engine = engine;
        this.metaGate = metaGate;
        this.roomLock = roomLock;
        this.slots = slots;
        this.originSync = originSync;
    }

    /** Commits in the background while records are queued, so that a killed service loses at most that much. */
    void startPeriodic() {
        periodic = Maintenance.SCHEDULER.scheduleWithFixedDelay(() -> Maintenance.EXECUTOR.execute(this::ifQueued),
                INTERVAL_MS, INTERVAL_MS, TimeUnit.MILLISECONDS);
    }

    void stopPeriodic() {
        stopped = true;
        if (periodic != null) {
            periodic.cancel(false);
        }
    }

    private void ifQueued() {
        boolean queued;
        pendingLock.lock();
        try {
            queued = !pendingRecords.isEmpty() || !pendingFrees.isEmpty();
        } finally {
            pendingLock.unlock();
        }
        if (queued && !stopped && failure == null) {
            try {
                commit();
            } catch (IOException e) {
                // The volume stopped (reported to every later caller) or the journal is full (retried next time).
                LOG.log(System.Logger.Level.WARNING, "volume {0}: background commit failed: {1}", volume, e.toString());
            }
        }
    }

    /**
     * Queues a chunk's move and the slot it freed (-1: none), which is reusable once the record is durable. Called
     * under the engine's registry lock, so that a free decided by the in-memory live location is always queued behind
     * the record that moved the chunk off the slot.
     */
    void queue(LiveRecord record, int freed) {
        pendingLock.lock();
        try {
            pendingRecords.add(record);
            if (freed >= 0) {
                pendingFrees.add(freed);
            }
        } finally {
            pendingLock.unlock();
        }
    }

    /**
     * Slots that stopped being referenced while the last durable record may still name one as a chunk's live version
     * (the record that moved the chunk may be queued): reusable only after the next commit.
     */
    void freeAfterCommit(List<Integer> freed) {
        if (freed.isEmpty()) {
            return;
        }
        pendingLock.lock();
        try {
            pendingFrees.addAll(freed);
        } finally {
            pendingLock.unlock();
        }
    }

    /** Makes every write so far durable: data first, then the queued records; then their freed slots are free. */
    void commit() throws IOException {
        commitWith(null);
    }

    /** Commits the queue and then, if not null, appends {@code urgent} and syncs it. */
    void commitWith(JournalRecord urgent) throws IOException {
        checkNotFailed();
        metaGate.lockShared(); // lock order: metaGate, then the commit lock (a checkpoint holds the gate exclusively)
        try {
            List<Integer> frees;
            roomLock.lock(); // before commitLock, always (see the class comment); uncontended unless room is made
            commitLock.lock();
            try {
                List<JournalRecord> records;
                pendingLock.lock();
                try {
                    records = pendingRecords;
                    frees = pendingFrees;
                    pendingRecords = new ArrayList<>();
                    pendingFrees = new ArrayList<>();
                } finally {
                    pendingLock.unlock();
                }
                try {
                    slots.sync();
                    originSync.sync(); // the data the records point at is durable first
                    Journal<JournalRecord> journal = engine.journal();
                    if (!records.isEmpty()) {
                        appendMakingRoom(journal, records);
                    }
                    if (urgent != null) {
                        journal.appendUrgent(urgent);
                    }
                    if (!records.isEmpty() || urgent != null) {
                        journal.sync();
                    }
                } catch (NoSpaceException full) {
                    requeue(records, frees); // nothing was written: try again at the next commit
                    throw full;
                } catch (IOException | RuntimeException ex) {
                    failure = ex;
                    throw new VolumeException(VolumeException.Code.FAILED, "volume " + volume + " stopped: making "
                            + "writes durable failed (" + ex.getMessage() + "); restart the service to recover the "
                            + "volume from its journal", ex);
                }
            } finally {
                commitLock.unlock();
                roomLock.unlock();
            }
            slots.release(frees.stream().mapToInt(Integer::intValue).toArray());
        } finally {
            metaGate.unlockShared();
        }
    }

    private void appendMakingRoom(Journal<JournalRecord> journal, List<JournalRecord> records) throws IOException {
        while (true) {
            try {
                journal.append(records);
                return;
            } catch (NoSpaceException full) {
                engine.makeRoomForRecords(full);
            }
        }
    }

    private void requeue(List<JournalRecord> records, List<Integer> frees) {
        pendingLock.lock();
        try {
            records.addAll(pendingRecords);
            frees.addAll(pendingFrees);
            pendingRecords = records;
            pendingFrees = frees;
        } finally {
            pendingLock.unlock();
        }
    }

    /** Refuses everything after a failed sync (see the class comment). */
    void checkNotFailed() throws VolumeException {
        Exception f = failure;
        if (f != null) {
            throw new VolumeException(VolumeException.Code.FAILED, "volume " + volume + " stopped after a failed "
                    + "fdatasync (" + f.getMessage() + "); restart the service to recover it from its journal", f);
        }
    }

    boolean failed() {
        return failure != null;
    }
}
