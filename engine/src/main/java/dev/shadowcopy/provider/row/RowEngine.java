package dev.shadowcopy.provider.row;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.NoSpaceException;
import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.provider.store.Checkpoints;
import dev.shadowcopy.provider.store.CopyReader;
import dev.shadowcopy.provider.store.EpochEngine;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.JournalRecord;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The redirect-on-write software provider for one managed volume. The model, the copy lifecycle and the lock order are
 * the kernel's ({@link EpochEngine}); this class keeps the write path, the merge's hooks and revert.
 *
 * <h2>Model</h2>
 * Every chunk has a live version — in the origin file at its own offset ({@code VersionIndex.BASE}, "the base"), in a
 * shadow-storage slot, or "zeros" — written in some epoch ({@link RowState}). When a chunk is first written in epoch
 * {@code e} while a live copy has its epoch in {@code [w, e)}, the new data goes to a new slot and the old version
 * stays exactly where it is, recorded as the version of epochs {@code w..e-1}. Otherwise the chunk is written in
 * place.
 *
 * <h2>Durability order</h2>
 * A copy's data is never overwritten, so a write needs no sync before it is acknowledged. The record that moves a
 * chunk's live version ({@code LIVE}) is queued and made durable at the next commit ({@link CommitQueue}: data first,
 * then records). A crash before that loses only writes nobody flushed, whole chunks at a time. A slot that stops being
 * live (trim, revert, merge) is reused only after the record that freed it is durable. An in-place first write in an
 * epoch syncs a {@code TOUCH} before the data is written, so change tracking stays exact across crashes.
 *
 * <h2>Reads</h2>
 * Lock-free with validation ({@link CopyReader}); a run of chunks in the base is read with one pread; so is a copy,
 * whose versions mostly stay in the base.
 *
 * <h2>Merge</h2>
 * When no copy needs a chunk's base version any more, a background task copies the live slot back into the base
 * ({@link RowMerger}), so the live volume becomes contiguous again and slots return to the store.
 *
 * <p>Locking order: the kernel's, with the {@link CommitQueue}'s commit lock after {@code roomLock}; a merge for room
 * only try-locks stripes.
 */
public final class RowEngine extends EpochEngine {
    final RowState state;
    private final CommitQueue queue;
    final RowMerger merger;
    /** A copy was released under locks; the merge pass is asked for when they are released. */
    private volatile boolean mergeWanted;
    /** Creations between prepare and complete/abort; the merger starts no batch while there are any. */
    private final AtomicInteger creationsInProgress = new AtomicInteger();

    RowEngine(EngineFiles files, RowState state, Recovered r, EngineOptions options, VolumeEvents events) {
        super(files, r, options, events, LiveRecord.CODEC);
        this.state = state;
        this.queue = new CommitQueue(volume, new CommitQueue.Engine() {
            @Override
            public Journal<JournalRecord> journal() {
                return journal;
            }

            @Override
            public void makeRoomForRecords(NoSpaceException full) throws IOException {
                Shadow oldest = releases.oldest(false); // this commit may be a deletion's own: do not wait for it
                if (oldest == null) {
                    throw full;
                }
                release(oldest, "released because the journal cannot grow: " + full.getMessage());
            }
        }, metaGate, roomLock, slots, originSync);
        this.merger = new RowMerger(volume, new RowMerger.Engine() {
            @Override
            public void commit() throws IOException {
                queue.commit();
            }

            @Override
            public void mergedToBase(long c) throws IOException {
                live(c, state.liveEpoch.get(c), VersionIndex.BASE, false);
            }
        }, state, stripes, metaGate, slots, origin, chunkSize, size, creationsInProgress,
                options.inlineMaintenance());
        if (!options.inlineMaintenance()) {
            queue.startPeriodic();
        }
    }

    // ---------------------------------------------------------------- reads

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        reader.read(CopyReader.LIVE, offset, dst);
    }

    @Override
    public void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        reader.mapAllocation(CopyReader.LIVE, offset, length, visitor);
    }

    /**
     * The live location if the reader's epoch sees the live version (written at or before it), else the kept
     * version. Versions a pinned copy needs are never freed; a live location may move, which the reader detects by
     * locating again after reading.
     */
    @Override
    protected int locate(int asOf, long c) {
        if (state.liveEpoch.get(c) <= asOf) {
            int loc = state.location(c);
            if (state.liveEpoch.get(c) <= asOf) {
                return loc;
            }
        }
        return state.versions.find(c, asOf);
    }

    private void readAt(long c, int loc, long pos, MemorySegment piece) throws IOException {
        if (loc == VersionIndex.BASE) {
            origin.read(pos, piece);
        } else if (loc == VersionIndex.ZERO) {
            piece.fill((byte) 0);
        } else if (loc >= 0) {
            slots.read(loc, pos - (c << shift), piece);
        } else {
            throw new VolumeException(VolumeException.Code.CORRUPT, "volume " + volume + ": chunk " + c
                    + " has no live version; the volume's metadata is damaged");
        }
    }

    // ---------------------------------------------------------------- writes

    @Override
    public void write(long offset, MemorySegment src) throws IOException {
        if (src.byteSize() > 0) {
            change(offset, src.byteSize(), src, false, false);
        }
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        if (length > 0) {
            change(offset, length, null, true, true);
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate) throws IOException {
        if (length > 0) {
            change(offset, length, null, mayDeallocate, true);
        }
    }

    @Override
    public void flush() throws IOException {
        queue.commit();
    }

    /**
     * Writes {@code src} (or zeros when null) over {@code [offset, offset + length)}, chunk by chunk. Whole
     * chunks of zeros become "zeros" locations when {@code deallocate}.
     */
    private void change(long offset, long length, MemorySegment src, boolean deallocate, boolean zeros)
            throws IOException {
        checkOpen();
        long c0 = offset >>> shift;
        long c1 = (offset + length - 1) >>> shift;
        int e = epoch;
        stripes.lock(c0, c1);
        try {
            metaGate.lockShared();
            try {
                touchInPlaceFirstWrites(c0, c1, e);
                for (long c = c0; c <= c1; c++) {
                    long pos = Math.max(offset, c << shift);
                    long end = Math.min(offset + length, (c + 1) << shift);
                    MemorySegment piece = src == null ? null : src.asSlice(pos - offset, end - pos);
                    writeChunk(c, pos, end - pos, piece, deallocate && zeros, e);
                }
            } finally {
                metaGate.unlockShared();
            }
        } finally {
            stripes.unlock(c0, c1);
        }
        afterLocksReleased();
    }

    /** Whether chunk {@code c}'s first write in epoch {@code e} goes in place (no copy needs what is there). */
    private boolean inPlace(long c, int e) {
        int w = state.liveEpoch.get(c);
        return w != e && !registry.anyLiveIn(w, e) && state.location(c) != VersionIndex.ZERO
                && !state.sharedWithVersion(c);
    }

    /**
     * Change tracking: chunks written in place for the first time in this epoch get a durable TOUCH before
     * their data changes on disk.
     */
    private void touchInPlaceFirstWrites(long c0, long c1, int e) throws IOException {
        if (tracking.suspended() || e == 0) {
            for (long c = c0; c <= c1; c++) {
                if (state.liveEpoch.get(c) != e && !registry.anyLiveIn(state.liveEpoch.get(c), e)) {
                    state.applyTouch(c, e);
                }
            }
            return;
        }
        List<JournalRecord> touches = new ArrayList<>();
        long runStart = -1;
        for (long c = c0; c <= c1 + 1; c++) {
            boolean touch = c <= c1 && inPlace(c, e);
            if (touch && runStart < 0) {
                runStart = c;
            } else if (!touch && runStart >= 0) {
                touches.add(new JournalRecord.Touch(runStart, (int) (c - runStart), e));
                runStart = -1;
            }
        }
        if (touches.isEmpty() || !appendTouches(touches)) {
            for (long c = c0; c <= c1; c++) {
                if (inPlace(c, e)) {
                    state.applyTouch(c, e);
                }
            }
            return;
        }
        journal.sync(); // durable before the data changes in place
        for (JournalRecord r : touches) {
            JournalRecord.Touch t = (JournalRecord.Touch) r;
            for (long c = t.first(); c < t.first() + t.count(); c++) {
                state.applyTouch(c, e);
            }
        }
    }

    /** One chunk of a change, under its stripe lock and the shared metaGate. */
    private void writeChunk(long c, long pos, long len, MemorySegment piece, boolean deallocate, int e)
            throws IOException {
        long start = c << shift;
        int chunkLen = (int) Math.min(chunkSize, size - start);
        boolean whole = pos == start && len == chunkLen;
        int w = state.liveEpoch.get(c);
        int loc = state.location(c);
        boolean keep = w != e && registry.anyLiveIn(w, e);
        if (!keep && loc != VersionIndex.ZERO && !state.sharedWithVersion(c)) {
            if (w != e) {
                touchNow(c, e); // the copy that needed the old version went away after the touches above
            }
            if (whole && deallocate && loc >= 0) {
                live(c, e, VersionIndex.ZERO, false);
            } else {
                writeInPlace(c, loc, pos, len, piece, deallocate);
            }
            return;
        }
        if (whole && deallocate) {
            live(c, e, VersionIndex.ZERO, keep);
            return;
        }
        // a new location: the chunk's new content is the old one with this piece on top
        MemorySegment buf = buffers.take();
        try {
            MemorySegment content = buf.asSlice(0, chunkLen);
            if (!whole) {
                readAt(c, loc, start, content);
            }
            if (piece != null) {
                MemorySegment.copy(piece, 0, content, pos - start, len);
            } else {
                content.asSlice(pos - start, len).fill((byte) 0);
            }
            int slot = allocate(c);
            if (slot >= 0) {
                slots.write(slot, content);
                live(c, e, slot, keep);
            } else {
                if ((w != e && registry.anyLiveIn(w, e)) || state.versions.references(c, VersionIndex.BASE)) {
                    // only kept (protected) copies are left, and one of them needs what is here or in the base
                    throw releases.refuse(start, "shadow storage reached its maximum size of " + slots.maxBytes()
                            + " bytes");
                }
                // no room and no copy left that needs the old version: the base is free for this chunk
                touchNow(c, e);
                origin.write(start, content);
                live(c, e, VersionIndex.BASE, false);
            }
        } finally {
            buffers.give(buf);
        }
    }

    /** A durable TOUCH for one chunk, before its data changes in place. */
    private void touchNow(long c, int e) throws IOException {
        if (!tracking.suspended() && e != 0 && appendTouches(List.of(new JournalRecord.Touch(c, 1, e)))) {
            journal.sync();
        }
        state.applyTouch(c, e);
    }

    /**
     * Appends TOUCH records. When the journal cannot grow, copies are released first (their shadow storage may
     * share the file system); with none left, change tracking is suspended instead (returns false): a live
     * write never fails for want of tracking.
     */
    private boolean appendTouches(List<JournalRecord> touches) throws IOException {
        while (true) {
            try {
                journal.append(touches);
                return true;
            } catch (NoSpaceException full) {
                roomLock.lock();
                try {
                    Shadow oldest = releases.oldest(true);
                    if (oldest != null) {
                        release(oldest, "released because the journal cannot grow: " + full.getMessage());
                        continue;
                    }
                } finally {
                    roomLock.unlock();
                }
                tracking.suspend(epoch, full, this::appendDurable);
                return false;
            }
        }
    }

    private void writeInPlace(long c, int loc, long pos, long len, MemorySegment piece, boolean deallocate)
            throws IOException {
        if (loc == VersionIndex.BASE) {
            if (piece != null) {
                origin.write(pos, piece);
            } else {
                origin.zero(pos, len, deallocate);
            }
        } else if (piece != null) {
            slots.writeAt(loc, pos - (c << shift), piece);
        } else {
            slots.zeroAt(loc, pos - (c << shift), len);
        }
    }

    /**
     * Publishes a chunk's new live location and queues its record; the previous version is kept for the
     * copies that need it (re-checked under the registry lock: a copy may have gone meanwhile).
     */
    private void live(long c, int e, int location, boolean keepWanted) throws IOException {
        int w = state.liveEpoch.get(c);
        registryLock.lock();
        try {
            boolean keep = keepWanted && registry.anyLiveIn(w, e);
            int shared = keep ? state.sharedVersionFrom(c, (ch, f, t, l) -> registry.anyLiveIn(f, t + 1)) : -1;
            LiveRecord record = shared >= 0
                    ? new LiveRecord(c, e, location, shared, e - 1, state.location(c), true)
                    : new LiveRecord(c, e, location, keep ? w : -1, keep ? e - 1 : -1,
                            keep ? state.location(c) : VersionIndex.ZERO, false);
            int freed = state.applyLive(c, e, location, record.keepFrom(), record.keepTo(), record.keepLocation(),
                    record.widen());
            // Queued before the registry lock is released: freeUnneeded (under this lock) decides by the in-memory
            // live location whether a version's slot may go, and queues that free; the record that moved the chunk
            // off the slot must already be ahead of it, or a commit between the two would free a slot the durable
            // journal still names as the chunk's live version.
            queue.queue(record, freed);
        } finally {
            registryLock.unlock();
        }
    }

    /**
     * A slot for a new version of chunk {@code c}. When shadow storage is full, the oldest copy the owner does not
     * keep is released, then what that made mergeable is merged back into the base and committed (redirected live
     * data is what fills a redirect-on-write store), and only if that freed nothing is the next copy released.
     * With only kept copies left, a merge is tried once more. Returns -1 when no slot can be had: the caller may
     * use the base if no copy is left that needs it, and must refuse the write otherwise.
     */
    private int allocate(long c) throws IOException {
        boolean mergedForKept = false;
        while (true) {
            int slot = slots.allocate();
            if (slot >= 0) {
                return slot;
            }
            roomLock.lock();
            try {
                slot = slots.allocate();
                if (slot >= 0) {
                    return slot;
                }
                Shadow oldest = releases.oldest(true);
                if (oldest == null) {
                    if (mergedForKept || releases.kept().isEmpty()) {
                        return -1;
                    }
                    mergedForKept = true; // what merging back frees is all there is
                } else {
                    release(oldest, "released to make room in shadow storage: it reached its maximum size of "
                            + slots.maxBytes() + " bytes");
                }
                queue.commit(); // only live locations that are durable may be merged
                merger.mergeForRoom(c);
                queue.commit(); // the merged chunks' records are durable: their slots are free now
            } finally {
                roomLock.unlock();
            }
        }
    }

    // ---------------------------------------------------------------- revert

    @Override
    public void revert(ShadowCopyId id) throws IOException {
        Shadow target = revertTarget(id);
        queue.commit();
        int[] freed;
        // Every stripe: a background merge works chunk by chunk under its stripe lock and must not land a chunk
        // between the revert's rewrite of every live location and its own check.
        stripes.lockAll(chunks);
        try {
            metaGate.lockShared();
            try {
                int newEpoch = nextEpoch();
                appendDurable(new JournalRecord.Reverted(target.id, newEpoch)); // metadata only: the revert is instant
                freed = state.applyRevert(target.epoch, newEpoch, volume);
                epoch = newEpoch;
            } finally {
                metaGate.unlockShared();
            }
        } finally {
            stripes.unlockAll(chunks);
        }
        queue.freeAfterCommit(java.util.Arrays.stream(freed).boxed().toList());
        freeUnneeded();
        mergeWanted = true;
        afterLocksReleased();
    }

    // ---------------------------------------------------------------- the kernel's hooks

    /** After everything queued before it: an urgent record never overtakes queued ones. */
    @Override
    protected void appendDurable(JournalRecord record) throws IOException {
        queue.commitWith(record);
    }

    /** Drops versions no live copy needs; their slots are free once the deletion that freed them is durable. */
    @Override
    protected void freeUnneeded() {
        List<Integer> freed = new ArrayList<>();
        registryLock.lock();
        try {
            state.versions.removeIf((c, from, to, slot) -> {
                boolean unneeded = !registry.anyLiveIn(from, to + 1);
                if (unneeded && slot >= 0 && slot != state.location(c)) {
                    freed.add(slot); // a slot that is also the live version (after a revert) stays
                }
                return unneeded;
            });
        } finally {
            registryLock.unlock();
        }
        queue.freeAfterCommit(freed);
    }

    /** A kept copy reading the base here keeps the live version from merging back out of its slot. */
    @Override
    protected boolean liveSlotPinnedByBase(long c) {
        return state.location(c) >= 0;
    }

    /** Nothing queued may be in the checkpoint without being durable. */
    @Override
    protected void beforeRotation(Journal<JournalRecord> old) throws IOException {
        queue.commit();
    }

    @Override
    protected Checkpoints.Image capture(CheckpointFile.Header header, List<CheckpointFile.Shadow> copies) {
        RowCheckpoint.Image image = new RowCheckpoint.Image(header, copies, state.copy());
        return f -> RowCheckpoint.write(f.storage(), f.metaDir(), f.volumeId(), image);
    }

    /** The merger pauses: its base writes would lengthen the commits the creation waits for. */
    @Override
    protected void creationStarted() {
        creationsInProgress.incrementAndGet();
    }

    @Override
    protected void creationEnded() {
        if (creationsInProgress.decrementAndGet() == 0) {
            merger.schedule();
        }
    }

    @Override
    protected void copyGone() {
        mergeWanted = true; // scheduled once no lock is held
    }

    /** Live data in slots moves back to the base where no copy needs the base. */
    @Override
    protected void shadowStorageLimitChanged() {
        mergeWanted = true;
    }

    @Override
    protected void afterLocksReleased() {
        if (mergeWanted) {
            mergeWanted = false;
            merger.schedule();
        }
        super.afterLocksReleased();
    }

    @Override
    protected void stopBackgroundWork() {
        queue.stopPeriodic();
        merger.shutdown();
    }

    @Override
    protected void checkHealthy() throws VolumeException {
        queue.checkNotFailed();
    }

    /** At open, after recovery. */
    void opened() throws IOException {
        releaseNonPersistent();
        merger.schedule();
    }
}
