package dev.shadowcopy.provider.cow;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.device.ShadowStorageFullException;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.platform.NoSpaceException;
import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.provider.store.Checkpoints;
import dev.shadowcopy.provider.store.CopyReader;
import dev.shadowcopy.provider.store.EagerWriteback;
import dev.shadowcopy.provider.store.EpochEngine;
import dev.shadowcopy.provider.store.Extents;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.JournalRecord;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.SequentialStreams;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The copy-on-write software provider for one managed volume. The model, the copy lifecycle and the lock order are
 * the kernel's ({@link EpochEngine}); this class keeps the write path, revert and checkpoint contents.
 *
 * <h2>Write path</h2>
 * Rewrite (every chunk of the request already has {@code w == current epoch}): one pwrite to the backing
 * file, no lock but the volume's shared gate — the same cost whatever the number of copies. First touch of a
 * chunk in an epoch: under the chunk's stripe lock, if a live copy has its epoch in {@code [w, current)},
 * the old content is copied to a shadow-storage slot (or recorded as zeros without copying when the chunk is
 * a hole or reads as zeros) — once, for all those copies. Then, in this order:
 * <ol>
 *   <li>fdatasync of shadow storage: the old content is durable (skipped when only non-persistent copies
 *       need it: they do not outlive a crash, see {@link #change});</li>
 *   <li>PRESERVE (or TOUCH, when no copy needs the data) records appended to the journal and fdatasynced:
 *       the map entry is durable. When no persistent copy needs any of them, they are change tracking's and
 *       a dropped non-persistent copy's business only, and the sync is skipped if a durable INTENT record
 *       already covers the chunks' region in this epoch ({@link WriteIntents});</li>
 *   <li>the in-memory index and epochs are updated (index before epoch, so a concurrent reader that sees
 *       the new epoch finds the record);</li>
 *   <li>only now is the backing file written.</li>
 * </ol>
 * So the old data and its map entry are durable before the live chunk is overwritten (the core invariant).
 * Both syncs are group commits shared by concurrent writers.
 *
 * <h2>Read path of a copy</h2>
 * Lock-free ({@link CopyReader}): a chunk not written since the copy is read from the backing file, else from its
 * preserved version; a writer publishes the preserved version before it moves the chunk's epoch, so a read that
 * raced it finds the version when it locates the chunk again.
 *
 * <h2>Not done, deliberately</h2>
 * No background copying, no write-back caching of live writes: a write is acknowledged after it reached the
 * page cache of the backing file, durability comes from flush/FUA, as with a plain file.
 */
public final class CowEngine extends EpochEngine {
    private static final System.Logger LOG = System.getLogger(CowEngine.class.getName());
    private static final int NOT_NEEDED = Integer.MIN_VALUE;
    /** A look-ahead chunk that would need room: the look-ahead stops before it. */
    private static final int NO_ROOM = Integer.MIN_VALUE + 1;

    /**
     * Preserve-ahead for sequential first-touch streams: 1 to 4 MiB ahead. Not more: a creation's hold waits for
     * the writes in flight, and a window's copy-out + sync (~1 ms per MiB here) is one of them. 8 MiB windows
     * gave the same sequential first-touch rate and creation p99 7-14 ms at 200 MB/s offered; 4 MiB gave 7-9.5.
     */
    private final SequentialStreams streams;
    private final EagerWriteback writeback;
    final WriteIntents intents;
    /** The copy a revert is restoring, until its end record is durable (checkpoints carry it). */
    volatile UUID revertInProgress;

    CowEngine(EngineFiles files, Recovered state, EngineOptions options, VolumeEvents events) {
        super(files, state, options, events, CowRecord.CODEC);
        this.streams = new SequentialStreams(Math.max(1, (1 << 20) / chunkSize), Math.max(1, (4 << 20) / chunkSize));
        this.writeback = new EagerWriteback(origin, options.inlineMaintenance() ? null : Maintenance.EXECUTOR);
        this.intents = new WriteIntents(chunks, chunkSize, options.intentRegionBytes());
    }

    // ---------------------------------------------------------------- live data path

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        origin.read(offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src) throws IOException {
        long length = src.byteSize();
        if (length == 0) {
            return;
        }
        long c0 = offset >>> shift;
        long c1 = (offset + length - 1) >>> shift;
        int e = epoch;
        for (long c = c0; c <= c1; c++) {
            if (liveEpoch.get(c) != e) {
                long through = Math.min(chunks - 1, c1 + streams.lookAhead(c0, c1));
                change(c0, through, c1, e, () -> origin.write(offset, src));
                return;
            }
        }
        origin.write(offset, src); // rewrite: nothing to preserve or record
        writeback.wrote(length);
    }

    @Override
    public void flush() throws IOException {
        originSync.sync();
        writeback.flushed();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        if (length > 0) {
            long c1 = (offset + length - 1) >>> shift;
            change(offset >>> shift, c1, c1, epoch, () -> origin.punchHole(offset, length));
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate) throws IOException {
        if (length > 0) {
            long c1 = (offset + length - 1) >>> shift;
            change(offset >>> shift, c1, c1, epoch, () -> origin.zero(offset, length, mayDeallocate));
        }
    }

    @Override
    public void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        FileExtents.map(origin, offset, length, visitor);
    }

    @Override
    protected int locate(int asOf, long c) {
        return liveEpoch.get(c) <= asOf ? VersionIndex.BASE : versions.find(c, asOf);
    }

    /** An origin mutation that runs after the metadata of its chunks is durable. */
    @FunctionalInterface
    interface OriginChange {
        void apply() throws IOException;
    }

    /**
     * First touch of chunks {@code c0..c1} in epoch {@code e}: preserve what live copies need, make the records
     * durable, then apply {@code change} to the backing file, which covers {@code c0..requestEnd}; the chunks after it
     * are a sequential stream's look-ahead, preserved only while shadow storage has free room (a guess never releases
     * a copy nor refuses the write). See the class comment for the order.
     *
     * @throws ShadowStorageFullException when the request's own chunks need room only kept copies could give;
     *                                    nothing of the write was applied
     */
    private void change(long c0, long c1, long requestEnd, int e, OriginChange change) throws IOException {
        checkOpen();
        stripes.lock(c0, c1);
        try {
            metaGate.lockShared();
            List<CowRecord.Preserve> preserved = new ArrayList<>();
            try {
                long last = c1; // the look-ahead ends early where preserving would need room
                boolean any = false;
                boolean persistentData = false;   // preserved data a persistent copy reads
                boolean persistentRecord = false; // a record a persistent copy reads (data or zeros)
                for (long c = c0; c <= last; c++) {
                    int w = liveEpoch.get(c);
                    if (w == e) {
                        continue;
                    }
                    if (registry.anyLiveIn(w, e)) {
                        int slot = preserve(c, w, e, c > requestEnd);
                        if (slot == NO_ROOM) {
                            last = c - 1;
                            break;
                        }
                        if (slot != NOT_NEEDED) {
                            preserved.add(new CowRecord.Preserve(c, w, e - 1, slot));
                            // No copy can be added while we hold the gate, only deleted: a "no" stays true.
                            boolean couldMatter = slot >= 0 ? !persistentData : !persistentRecord;
                            if (couldMatter && registry.anyPersistentLiveIn(w, e)) {
                                persistentRecord = true;
                                persistentData = persistentData || slot >= 0;
                            }
                        }
                    }
                    any = true;
                }
                if (any) {
                    if (persistentData) {
                        slots.sync(); // durable before the records that point at the data
                    }
                    // Data kept only for non-persistent copies is not synced (dm-snapshot's transient store
                    // does the same): a crash releases those copies at open, and recovery drops every record
                    // whose epoch range holds no surviving copy, so nothing reads such a slot after a crash.
                    // Such records, and TOUCH records, are change tracking's: a durable intent covers them.
                    List<JournalRecord> records = new ArrayList<>(preserved);
                    appendTouches(records, c0, last, e, preserved);
                    List<CowRecord.Intent> announced = persistentRecord || tracking.suspended() || records.isEmpty()
                            ? List.of() : intents.announce(records, c0, last, e);
                    if (!records.isEmpty()) {
                        appendMakingRoom(records, preserved, c0);
                        if (persistentRecord || !announced.isEmpty()) {
                            journal.sync(); // the map entries (or the intent) are durable before the origin changes
                        }
                        intents.durable(announced, records, e);
                    }
                    publish(preserved, c0, last, e);
                }
            } catch (ShadowStorageFullException refused) {
                // nothing of the write is applied: the slots copied for it are given back
                for (CowRecord.Preserve p : preserved) {
                    if (p.slot() >= 0) {
                        slots.unallocate(p.slot());
                    }
                }
                throw refused;
            } finally {
                metaGate.unlockShared();
            }
            change.apply();
        } finally {
            stripes.unlock(c0, c1);
        }
        writeback.wrote((c1 - c0 + 1) << shift);
        checkpoints.maybeSchedule();
    }

    /** TOUCH records for chunks that change epoch without being preserved (change tracking). */
    private void appendTouches(List<JournalRecord> records, long c0, long c1, int e,
                               List<CowRecord.Preserve> preserved) {
        if (tracking.suspended()) {
            return;
        }
        long runStart = -1;
        int p = 0;
        for (long c = c0; c <= c1 + 1; c++) {
            boolean touch = false;
            if (c <= c1 && liveEpoch.get(c) != e) {
                while (p < preserved.size() && preserved.get(p).chunk() < c) {
                    p++;
                }
                touch = p >= preserved.size() || preserved.get(p).chunk() != c;
            }
            if (touch && runStart < 0) {
                runStart = c;
            } else if (!touch && runStart >= 0) {
                records.add(new JournalRecord.Touch(runStart, (int) (c - runStart), e));
                runStart = -1;
            }
        }
    }

    /** Publishes durable records in memory: index entries first, then the chunks' new epoch. */
    private void publish(List<CowRecord.Preserve> preserved, long c0, long c1, int e) throws IOException {
        int[] unneeded = new int[preserved.size()];
        int n = 0;
        registryLock.lock();
        try {
            for (CowRecord.Preserve p : preserved) {
                if (registry.anyLiveIn(p.from(), p.to() + 1)) {
                    versions.insert(p.chunk(), p.from(), p.to(), p.slot());
                } else if (p.slot() >= 0) {
                    unneeded[n++] = p.slot(); // its copies were deleted meanwhile
                }
            }
        } finally {
            registryLock.unlock();
        }
        for (long c = c0; c <= c1; c++) {
            if (liveEpoch.get(c) != e) {
                liveEpoch.set(c, e);
            }
        }
        if (n > 0) {
            slots.release(java.util.Arrays.copyOf(unneeded, n));
        }
    }

    /**
     * Copies chunk {@code c}'s current content to shadow storage. Returns its slot, {@link VersionIndex#ZERO}
     * when the content is zeros, {@link #NOT_NEEDED} when making room deleted every copy that needed it, or (for a
     * {@code speculative} look-ahead chunk, which never makes room) {@link #NO_ROOM} when there is no free slot.
     */
    private int preserve(long c, int w, int e, boolean speculative) throws IOException {
        long start = c << shift;
        int len = (int) Math.min(chunkSize, size - start);
        MemorySegment buf = buffers.take();
        try {
            MemorySegment content = buf.asSlice(0, len);
            // No lseek(SEEK_DATA) to spot holes first: on ext4 it takes the inode lock that every buffered write
            // of the backing holds, and concurrent first touches queued on it. A hole reads as zeros just as well.
            origin.read(start, content);
            if (Extents.isZero(content)) {
                return VersionIndex.ZERO; // a hole or zeros: nothing to copy
            }
            while (true) {
                int slot = slots.allocate();
                if (slot >= 0) {
                    try {
                        slots.write(slot, content);
                        return slot;
                    } catch (IOException ex) {
                        // full file system, quota or a failing disk under shadow storage: the live write must
                        // still succeed, so release copies instead (VSS does the same)
                        slots.unallocate(slot);
                        if (speculative) {
                            return NO_ROOM;
                        }
                        if (!makeRoom(c, w, e, describe(ex), true)) {
                            return NOT_NEEDED;
                        }
                    }
                } else if (speculative) {
                    return NO_ROOM;
                } else if (!makeRoom(c, w, e, "shadow storage reached its maximum size of " + slots.maxBytes()
                        + " bytes", false)) {
                    return NOT_NEEDED;
                }
            }
        } finally {
            buffers.give(buf);
        }
    }

    private static String describe(IOException e) {
        return e instanceof NoSpaceException ? "the file system under shadow storage is full (" + e.getMessage() + ")"
                : "writing shadow storage failed (" + e.getMessage() + ")";
    }

    /**
     * Releases the oldest shadow copy the owner does not keep, to make room for chunk {@code c}. Returns whether a
     * copy still needs the content of that chunk, written in {@code w} and now being overwritten in {@code e}.
     *
     * @throws ShadowStorageFullException when only kept (protected) copies need it and none other can go
     */
    private boolean makeRoom(long c, int w, int e, String why, boolean writeFailed) throws IOException {
        roomLock.lock();
        try {
            if (!registry.anyLiveIn(w, e)) {
                return false;
            }
            if (!writeFailed && slots.usedBytes() + chunkSize <= slots.maxBytes()) {
                return true; // another writer made room meanwhile
            }
            Shadow oldest = releases.oldest(true);
            if (!registry.anyLiveIn(w, e)) {
                return false; // a deletion we waited for took the copies that needed it
            }
            if (!writeFailed && slots.usedBytes() + chunkSize <= slots.maxBytes()) {
                return true; // ... or freed enough
            }
            if (oldest == null) {
                if (!releases.kept().isEmpty()) {
                    throw releases.refuse(c << shift, why);
                }
                return registry.anyLiveIn(w, e); // only copies being deleted: try again
            }
            release(oldest, "released to make room in shadow storage: " + why);
            return registry.anyLiveIn(w, e);
        } finally {
            roomLock.unlock();
        }
    }

    /**
     * Appends records; if the file system is full, releases copies (and their records) until they fit. With no
     * copy left to release, change tracking is suspended; with only kept copies left that still need records of
     * this write, the write is refused.
     */
    private void appendMakingRoom(List<JournalRecord> records, List<CowRecord.Preserve> preserved, long c0)
            throws IOException {
        while (true) {
            try {
                journal.append(records);
                return;
            } catch (NoSpaceException full) {
                roomLock.lock(); // one decision at a time: a second writer finds the room the first one made
                try {
                    try {
                        journal.append(records);
                        return;
                    } catch (NoSpaceException again) {
                        full = again;
                    }
                    Shadow oldest = releases.oldest(true);
                    if (oldest != null) {
                        release(oldest, "released because the journal cannot grow: " + full.getMessage());
                    } else {
                        dropUnneeded(records, preserved);
                        if (!preserved.isEmpty()) {
                            throw releases.refuse(c0 << shift, "its metadata cannot be recorded ("
                                    + full.getMessage() + ")");
                        }
                        // No copy needs anything of this write; only change tracking is lost.
                        tracking.suspend(epoch, full, this::appendDurable);
                        records.removeIf(r -> r instanceof JournalRecord.Touch || r instanceof CowRecord.Intent);
                    }
                } finally {
                    roomLock.unlock();
                }
                dropUnneeded(records, preserved);
                if (records.isEmpty()) {
                    return;
                }
            }
        }
    }

    /** Removes preservations no live copy needs any more and gives their slots back. */
    private void dropUnneeded(List<JournalRecord> records, List<CowRecord.Preserve> preserved) throws IOException {
        List<CowRecord.Preserve> dropped = new ArrayList<>();
        preserved.removeIf(p -> {
            boolean drop = !registry.anyLiveIn(p.from(), p.to() + 1);
            if (drop) {
                dropped.add(p);
            }
            return drop;
        });
        records.removeIf(r -> r instanceof CowRecord.Preserve p && dropped.contains(p));
        slots.release(dropped.stream().mapToInt(CowRecord.Preserve::slot).filter(x -> x >= 0).toArray());
    }

    // ---------------------------------------------------------------- the kernel's hooks

    /** Journalled with the reserve the journal keeps for records that free space, then synced. */
    @Override
    protected void appendDurable(JournalRecord record) throws IOException {
        journal.appendUrgent(record);
        journal.sync();
    }

    /** Drops every preserved version no live copy needs and returns its slot. */
    @Override
    protected void freeUnneeded() throws IOException {
        int[] freed;
        registryLock.lock();
        try {
            freed = versions.removeIf((c, from, to, slot) -> !registry.anyLiveIn(from, to + 1));
        } finally {
            registryLock.unlock();
        }
        slots.release(freed);
    }

    /**
     * Records may have been appended without a sync (covered by intents). Only the last generation may end torn, and
     * the intents that cover them must not be forgotten while the new checkpoint is not yet durable: the old
     * generation is synced before the new one starts.
     */
    @Override
    protected void beforeRotation(Journal<JournalRecord> old) throws IOException {
        old.sync();
        intents.forget();
    }

    @Override
    protected Checkpoints.Image capture(CheckpointFile.Header header, List<CheckpointFile.Shadow> copies) {
        // A clean close records the backing file's modification time: a different one at the next open means
        // something wrote the volume while Shadowcopy was not running (CowRecovery checks it).
        long mtime = header.cleanClose() ? CowRecovery.backingMtime(files) : -1;
        CowCheckpoint.State state = new CowCheckpoint.State(header, mtime, copies, liveEpoch.copy(),
                versions.copy(chunks), revertInProgress);
        return f -> CowCheckpoint.write(f.storage(), f.metaDir(), f.volumeId(), state);
    }

    // ---------------------------------------------------------------- revert, recovery

    @Override
    public void revert(ShadowCopyId id) throws IOException {
        Shadow target = revertTarget(id);
        // A revert cut short by a crash is finished at open from the target's preserved data, which is not yet
        // durable if only non-persistent copies needed it.
        slots.sync();
        metaGate.lockShared();
        try {
            appendDurable(new CowRecord.RevertBegin(target.id));
            revertInProgress = target.id;
        } finally {
            metaGate.unlockShared();
        }
        new Reverter(liveEpoch, versions, slots, origin, chunkSize, size, volume).run(target);
        finishRevert(target);
    }

    /** Once every reverted chunk is durable: the end record, then the chunks' new epoch. */
    private void finishRevert(Shadow target) throws IOException {
        metaGate.lockShared();
        try {
            int newEpoch = nextEpoch();
            appendDurable(new JournalRecord.Reverted(target.id, newEpoch));
            CowRecovery.applyRevertEnd(liveEpoch, target.epoch, newEpoch);
            epoch = newEpoch;
            revertInProgress = null;
        } finally {
            metaGate.unlockShared();
        }
    }

    /** Finishes, at open, a revert a crash interrupted. */
    void resumeRevert(Shadow target) throws IOException {
        LOG.log(System.Logger.Level.INFO, "volume {0}: finishing the revert to {1} that a crash interrupted", volume,
                target.id);
        revertInProgress = target.id;
        new Reverter(liveEpoch, versions, slots, origin, chunkSize, size, volume).run(target);
        finishRevert(target);
    }

    /**
     * Makes durable the chunks recovery counted as written under an intent whose records a crash lost, before
     * anything else is journalled (the intents themselves leave with the next checkpoint).
     */
    void recordRecoveredTouches(List<JournalRecord.Touch> touches) throws IOException {
        journal.append(touches);
        journal.sync();
        long n = touches.stream().mapToLong(JournalRecord.Touch::count).sum();
        LOG.log(System.Logger.Level.INFO, "volume {0}: {1} chunks written just before a crash may have lost their "
                + "change-tracking records; they count as changed", volume, n);
    }

    /** Change tracking cannot vouch for anything before now (the backing was written while closed). */
    void trackingUntrusted(String why) throws IOException {
        tracking.restart(epoch, why, this::appendDurable);
    }

    /** At open, after recovery. */
    void opened() throws IOException {
        releaseNonPersistent();
    }
}
