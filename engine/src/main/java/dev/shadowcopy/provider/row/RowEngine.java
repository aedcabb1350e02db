package dev.shadowcopy.provider.row;

import dev.shadowcopy.platform.GroupSync;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.ChunkBuffers;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.MetaGate;
import dev.shadowcopy.provider.store.Releases;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.provider.store.SlotStore;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The redirect-on-write software provider for one managed volume.
 *
 * <h2>Model</h2>
 * Every chunk has a live version — in the base file at its own offset, in a shadow-storage slot, or "zeros"
 * — written in some epoch ({@link RowState}). Taking a copy closes an epoch, as in copy-on-write. When a
 * chunk is first written in epoch {@code e} while a live copy has its epoch in {@code [w, e)}, the new data
 * goes to a new slot and the old version stays exactly where it is, recorded as the version of epochs
 * {@code w..e-1} (the base itself is such a version, {@code VersionIndex.BASE}). Otherwise the chunk is written
 * in place.
 *
 * <h2>Durability order</h2>
 * A copy's data is never overwritten, so a write needs no sync before it is acknowledged. The record that
 * moves a chunk's live version ({@code LIVE}) is queued and made durable at the next commit (flush, FUA, copy
 * creation, checkpoint), in this order: shadow storage and base synced (the new data is durable) → records
 * appended and the journal synced (the new location is durable). A crash before that loses only writes
 * nobody flushed, whole chunks at a time. A slot that stops being live (trim, revert, merge) is reused only
 * after the record that freed it is durable. An in-place first write in an epoch syncs a {@code TOUCH}
 * before the data is written, so change tracking stays exact across crashes.
 *
 * <p>A background commit runs every {@value #COMMIT_INTERVAL_MS} ms while records are queued, so that a
 * killed service loses at most that much unflushed work (a power loss, as with any disk, loses what was not
 * flushed).
 *
 * <h2>Reads</h2>
 * Lock-free with validation: read the live location, read the data, re-read the location; retry if it moved.
 * A run of chunks in the base is read with one pread; so is a copy, whose versions mostly stay in the base.
 *
 * <h2>Merge</h2>
 * When no copy needs a chunk's base version any more, a background task copies the live slot back into the
 * base ({@link RowMerger}), so the live volume becomes contiguous again and slots return to the store.
 *
 * <p>Locking order: volume gate → stripe locks (ascending; a merge for room only try-locks) → {@code metaGate}
 * (shared for every change of in-memory metadata or the pending list; exclusive for a checkpoint's capture) →
 * {@code roomLock} → {@code commitLock} → {@code registryLock} → leaf locks. Every commit takes {@code roomLock}
 * before {@code commitLock} (a commit may have to make room; making room commits), so no path can hold the commit
 * lock and wait for the room lock.
 */
public final class RowEngine implements VolumeEngine {
    private static final System.Logger LOG = System.getLogger(RowEngine.class.getName());
    private static final int STRIPES = 4096;
    static final long COMMIT_INTERVAL_MS = 1000;

    final String volume;
    final EngineFiles files;
    final StorageFile base;
    private final GroupSync baseSync;
    private final long size;
    private final int chunkSize;
    final int shift;
    final long chunks;
    final RowState state;
    final SlotStore slots;
    final ShadowRegistry registry;
    private final VolumeEvents events;
    /** Which copy goes when room is needed: the oldest the owner does not keep. */
    private final Releases releases;
    private final int maxShadowCopies;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    final MetaGate metaGate = new MetaGate();
    private final ReentrantLock registryLock = new ReentrantLock();
    private final ReentrantLock roomLock = new ReentrantLock();
    private final ReentrantLock commitLock = new ReentrantLock();
    private final ReentrantLock pendingLock = new ReentrantLock();
    private List<RowRecord> pendingRecords = new ArrayList<>();
    private List<Integer> pendingFrees = new ArrayList<>();
    private final ChunkBuffers buffers;
    final RowCheckpointer checkpoints;
    final RowMerger merger;
    volatile Journal<RowRecord> journal;
    volatile int epoch;
    volatile int trackingSince;
    private volatile boolean trackingSuspendedInEpoch;
    private volatile boolean closed;
    /** Set when making writes durable failed: the volume refuses everything until reopened. */
    private volatile Exception failure;
    /** A copy was released under locks; the merge pass is asked for when they are released. */
    private volatile boolean mergeWanted;
    /** Creations between prepare and complete/abort; the merger starts no batch while there are any. */
    final AtomicInteger creationsInProgress = new AtomicInteger();

    RowEngine(EngineFiles files, RowRecovery.Recovered r, VolumeEvents events, int maxShadowCopies,
              long checkpointBytes, boolean inline) {
        this.volume = files.volumeName();
        this.files = files;
        this.base = files.origin();
        this.baseSync = new GroupSync(base);
        this.size = files.size();
        this.chunkSize = files.chunkSize();
        this.shift = Integer.numberOfTrailingZeros(chunkSize);
        this.chunks = (size + chunkSize - 1) >>> shift;
        this.state = r.state();
        this.slots = r.slots();
        this.registry = r.registry();
        this.journal = r.journal();
        this.epoch = r.epoch();
        this.trackingSince = r.trackingSince();
        this.events = events;
        this.releases = new Releases(volume, registry, events, this::info);
        this.maxShadowCopies = maxShadowCopies;
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
        this.buffers = new ChunkBuffers(chunkSize);
        this.checkpoints = new RowCheckpointer(this, checkpointBytes, inline);
        this.merger = new RowMerger(this, inline);
        this.periodicCommit = inline ? null : Maintenance.SCHEDULER.scheduleWithFixedDelay(
                () -> Maintenance.EXECUTOR.execute(this::commitIfQueued), COMMIT_INTERVAL_MS, COMMIT_INTERVAL_MS,
                java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    private final java.util.concurrent.ScheduledFuture<?> periodicCommit;

    private void commitIfQueued() {
        boolean queued;
        pendingLock.lock();
        try {
            queued = !pendingRecords.isEmpty() || !pendingFrees.isEmpty();
        } finally {
            pendingLock.unlock();
        }
        if (queued && !closed && failure == null) {
            try {
                commit();
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "volume {0}: background commit failed: {1}", volume, e.toString());
            }
        }
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int chunkSize() {
        return chunkSize;
    }

    // ---------------------------------------------------------------- reads

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        long end = offset + dst.byteSize();
        long pos = offset;
        while (pos < end) {
            pos = readLiveRun(pos, end, offset, dst);
        }
    }

    /** Reads live chunks from {@code pos}: a run of chunks in the base with one pread, or one chunk. */
    private long readLiveRun(long pos, long end, long offset, MemorySegment dst) throws IOException {
        long c = pos >>> shift;
        long chunkEnd = Math.min(end, (c + 1) << shift);
        while (true) {
            int loc = state.location(c);
            if (loc != VersionIndex.BASE) {
                readAt(c, loc, pos, dst.asSlice(pos - offset, chunkEnd - pos));
                if (state.location(c) == loc) {
                    return chunkEnd;
                }
                continue; // the chunk moved while we read: read it again where it is now
            }
            long runEnd = chunkEnd;
            long next = c + 1;
            while (runEnd < end && state.location(next) == VersionIndex.BASE) {
                runEnd = Math.min(end, (next + 1) << shift);
                next++;
            }
            base.read(pos, dst.asSlice(pos - offset, runEnd - pos));
            long good = runEnd;
            for (long k = c; k < next; k++) {
                if (state.location(k) != VersionIndex.BASE) {
                    good = Math.max(pos, k << shift); // re-read from the first chunk that moved
                    break;
                }
            }
            if (good > pos) {
                return good;
            }
        }
    }

    void readAt(long c, int loc, long pos, MemorySegment piece) throws IOException {
        if (loc == VersionIndex.BASE) {
            base.read(pos, piece);
        } else if (loc == VersionIndex.ZERO) {
            piece.fill((byte) 0);
        } else if (loc >= 0) {
            slots.read(loc, pos - (c << shift), piece);
        } else {
            throw new VolumeException(VolumeException.Code.CORRUPT, "volume " + volume + ": chunk " + c
                    + " has no version for the requested shadow copy; the copy is damaged (delete it)");
        }
    }

    // ---------------------------------------------------------------- writes

    /** What a request does to one chunk. */
    @FunctionalInterface
    interface Piece {
        /** Applies the request's bytes for {@code [pos, pos + len)} to a buffer holding the chunk from its start. */
        void overlay(MemorySegment chunkBuffer, long pos, long len);
    }

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
        lockStripes(c0, c1);
        try {
            metaGate.lockShared();
            try {
                touchInPlaceFirstWrites(c0, c1, e, offset, length, deallocate && zeros);
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
            unlockStripes(c0, c1);
        }
        afterLocksReleased();
    }

    /** Background work asked for while locks were held. */
    private void afterLocksReleased() {
        if (mergeWanted) {
            mergeWanted = false;
            merger.schedule();
        }
        checkpoints.maybeSchedule();
    }

    /**
     * Change tracking: chunks written in place for the first time in this epoch get a durable TOUCH before
     * their data changes on disk.
     */
    private void touchInPlaceFirstWrites(long c0, long c1, int e, long offset, long length, boolean deallocate)
            throws IOException {
        if (trackingSuspendedInEpoch || e == 0) {
            for (long c = c0; c <= c1; c++) {
                if (state.liveEpoch.get(c) != e && !registry.anyLiveIn(state.liveEpoch.get(c), e)) {
                    state.applyTouch(c, e);
                }
            }
            return;
        }
        List<RowRecord> touches = new ArrayList<>();
        long runStart = -1;
        for (long c = c0; c <= c1 + 1; c++) {
            boolean inPlace = false;
            if (c <= c1) {
                int w = state.liveEpoch.get(c);
                inPlace = w != e && !registry.anyLiveIn(w, e) && state.location(c) != VersionIndex.ZERO
                        && !state.sharedWithVersion(c);
            }
            if (inPlace && runStart < 0) {
                runStart = c;
            } else if (!inPlace && runStart >= 0) {
                touches.add(new RowRecord.Touch(runStart, (int) (c - runStart), e));
                runStart = -1;
            }
        }
        if (touches.isEmpty() || !appendTouches(touches)) {
            for (long c = c0; c <= c1; c++) {
                if (state.liveEpoch.get(c) != e && !registry.anyLiveIn(state.liveEpoch.get(c), e)
                        && state.location(c) != VersionIndex.ZERO && !state.sharedWithVersion(c)) {
                    state.applyTouch(c, e);
                }
            }
            return;
        }
        journal.sync(); // durable before the data changes in place
        for (RowRecord r : touches) {
            RowRecord.Touch t = (RowRecord.Touch) r;
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
                base.write(start, content);
                live(c, e, VersionIndex.BASE, false);
            }
        } finally {
            buffers.give(buf);
        }
    }

    /** A durable TOUCH for one chunk, before its data changes in place. */
    private void touchNow(long c, int e) throws IOException {
        if (!trackingSuspendedInEpoch && e != 0 && appendTouches(List.of(new RowRecord.Touch(c, 1, e)))) {
            journal.sync();
        }
        state.applyTouch(c, e);
    }

    /**
     * Appends TOUCH records. When the journal cannot grow, copies are released first (their shadow storage may
     * share the file system); with none left, change tracking is suspended instead (returns false): a live
     * write never fails for want of tracking.
     */
    private boolean appendTouches(List<RowRecord> touches) throws IOException {
        while (true) {
            try {
                journal.append(touches);
                return true;
            } catch (dev.shadowcopy.platform.NoSpaceException full) {
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
                if (!trackingSuspendedInEpoch) {
                    appendDurable(new RowRecord.TrackingReset(epoch));
                    trackingSince = Math.max(trackingSince, epoch);
                    trackingSuspendedInEpoch = true;
                    events.warning(volume, "change tracking suspended (metadata cannot grow: " + full.getMessage()
                            + "); the next incremental backup reads the whole volume");
                }
                return false;
            }
        }
    }

    private void writeInPlace(long c, int loc, long pos, long len, MemorySegment piece, boolean deallocate)
            throws IOException {
        if (loc == VersionIndex.BASE) {
            if (piece != null) {
                base.write(pos, piece);
            } else if (deallocate) {
                base.punchHole(pos, len);
            } else {
                base.zeroRange(pos, len);
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
        int freed;
        RowRecord.Live record;
        registryLock.lock();
        try {
            boolean keep = keepWanted && registry.anyLiveIn(w, e);
            int shared = keep ? state.sharedVersionFrom(c, (ch, f, t, l) -> registry.anyLiveIn(f, t + 1)) : -1;
            record = shared >= 0
                    ? new RowRecord.Live(c, e, location, shared, e - 1, state.location(c), true)
                    : new RowRecord.Live(c, e, location, keep ? w : -1, keep ? e - 1 : -1,
                            keep ? state.location(c) : VersionIndex.ZERO, false);
            freed = state.applyLive(c, e, location, record.keepFrom(), record.keepTo(), record.keepLocation(),
                    record.widen());
            // Queued before the registry lock is released: freeUnneeded (under this lock) decides by the in-memory
            // live location whether a version's slot may go, and queues that free; the record that moved the chunk
            // off the slot must already be ahead of it, or a commit between the two would free a slot the durable
            // journal still names as the chunk's live version.
            pendingLock.lock();
            try {
                pendingRecords.add(record);
                if (freed >= 0) {
                    pendingFrees.add(freed); // reusable once this record is durable
                }
            } finally {
                pendingLock.unlock();
            }
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
                commit(); // only live locations that are durable may be merged
                merger.mergeForRoom(c);
                commit(); // the merged chunks' records are durable: their slots are free now
            } finally {
                roomLock.unlock();
            }
        }
    }

    /** Tries to take one chunk's stripe lock without waiting (merge for room, which holds other stripes). */
    boolean tryLockStripe(long c) {
        return stripes[(int) (c % STRIPES)].tryLock();
    }

    void unlockStripe(long c) {
        stripes[(int) (c % STRIPES)].unlock();
    }

    @Override
    public void flush() throws IOException {
        commit();
    }

    /**
     * Makes every write so far durable: data (shadow storage, base) first, then the queued records; then the
     * slots those records freed become reusable.
     */
    void commit() throws IOException {
        commitWith(null);
    }

    /**
     * Commits the queue and then, if not null, appends {@code urgent} and syncs: the journal's order is always
     * the order in which changes were made in memory (an urgent record never overtakes queued ones — a revert
     * replayed before a queued merge record would be undone by it).
     */
    private void commitWith(RowRecord urgent) throws IOException {
        checkNotFailed();
        metaGate.lockShared(); // lock order: metaGate, then the commit lock (a checkpoint holds the gate exclusively)
        try {
            List<Integer> frees;
            // roomLock before commitLock, always: a commit whose records do not fit releases copies (under roomLock)
            // while it holds the commit lock, and making room for a write commits (under commitLock) while it holds
            // roomLock. Taking roomLock only when the journal turned out to be full deadlocked a flush against a
            // first write that both found it full (RowLockOrderTest). Uncontended unless room is being made.
            roomLock.lock();
            commitLock.lock();
            try {
                List<RowRecord> records;
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
                    baseSync.sync(); // the data the records point at is durable first
                    if (!records.isEmpty()) {
                        appendMakingRoom(records);
                    }
                    if (urgent != null) {
                        journal.appendUrgent(urgent);
                    }
                    if (!records.isEmpty() || urgent != null) {
                        journal.sync();
                    }
                } catch (dev.shadowcopy.platform.NoSpaceException full) {
                    requeue(records, frees); // nothing was written: try again at the next commit
                    throw full;
                } catch (IOException | RuntimeException ex) {
                    // A failed fdatasync leaves the files in an unknowable state; appending the same records
                    // again would put duplicates after later ones. Stop: the next open recovers from the disk.
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

    /**
     * Appends records; when the file system under the journal is full, releases the oldest copies (their
     * shadow storage may share the file system) until they fit. With no copy left the error stands: the
     * volume's own writes cannot be made durable, and flush says so. Caller holds roomLock, then commitLock.
     */
    private void appendMakingRoom(List<RowRecord> records) throws IOException {
        while (true) {
            try {
                journal.append(records);
                return;
            } catch (dev.shadowcopy.platform.NoSpaceException full) {
                roomLock.lock();
                try {
                    Shadow oldest = releases.oldest(false); // this commit may be a deletion's own: do not wait for it
                    if (oldest == null) {
                        throw full;
                    }
                    release(oldest, "released because the journal cannot grow: " + full.getMessage());
                } finally {
                    roomLock.unlock();
                }
            }
        }
    }

    private void requeue(List<RowRecord> records, List<Integer> frees) {
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

    /** Makes {@code record} durable after everything queued before it. */
    void appendDurable(RowRecord record) throws IOException {
        commitWith(record);
    }

    @Override
    public void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        RowMaps.mapLive(this, offset, length, visitor);
    }

    // ---------------------------------------------------------------- copies

    @Override
    public List<ShadowCopyInfo> shadowCopies() {
        List<ShadowCopyInfo> out = new ArrayList<>();
        for (Shadow s : registry.inPhases(Phase.COMMITTED)) {
            out.add(info(s));
        }
        return out;
    }

    ShadowCopyInfo info(Shadow s) {
        return new ShadowCopyInfo(new ShadowCopyId(s.id), volume, s.epoch, Instant.ofEpochMilli(s.createdMillis),
                s.persistent, size);
    }

    private record Pending(ShadowCopyId id, boolean persistent, Shadow[] shadow, AtomicBoolean ended)
            implements PendingShadowCopy {}

    @Override
    public PendingShadowCopy prepareShadowCopy(ShadowCopyId id, boolean persistent) throws IOException {
        checkOpen();
        int existing = registry.inPhases(Phase.PENDING, Phase.COMMITTING, Phase.COMMITTED).size();
        if (existing >= maxShadowCopies) {
            throw new VolumeException(VolumeException.Code.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "volume " + volume
                    + " already has " + existing + " shadow copies, the maximum is " + maxShadowCopies
                    + "; delete some (delete shadows --for " + volume + " --oldest) and retry");
        }
        if (registry.get(id.uuid()) != null) {
            throw new VolumeException(VolumeException.Code.OBJECT_ALREADY_EXISTS, "shadow copy " + id
                    + " already exists on volume " + volume);
        }
        Pending p = new Pending(id, persistent, new Shadow[1], new AtomicBoolean());
        creationsInProgress.incrementAndGet(); // the merger pauses: its base writes would lengthen our commits
        try {
            commit(); // most of the work before writes are held
        } catch (IOException | RuntimeException e) {
            creationEnded(p);
            throw e;
        }
        return p;
    }

    @Override
    public void commitShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        if (p.shadow()[0] != null) {
            throw new IllegalStateException("shadow copy " + p.id() + " already committed");
        }
        int s = epoch;
        p.shadow()[0] = registry.add(p.id().uuid(), s, System.currentTimeMillis(), p.persistent(), Phase.PENDING);
        epoch = s + 1;
        trackingSuspendedInEpoch = false;
    }

    private void creationEnded(PendingShadowCopy pending) {
        if (((Pending) pending).ended().compareAndSet(false, true) && creationsInProgress.decrementAndGet() == 0) {
            merger.schedule();
        }
    }

    @Override
    public ShadowCopyInfo completeShadowCopy(PendingShadowCopy pending) throws IOException {
        try {
            return completeCreation(pending);
        } finally {
            creationEnded(pending);
        }
    }

    private ShadowCopyInfo completeCreation(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        Shadow s = p.shadow()[0];
        if (s == null) {
            throw new IllegalStateException("shadow copy " + p.id() + " was not committed");
        }
        try {
            commit(); // every write acknowledged before the instant, and where it is, is durable
        } catch (IOException e) {
            abortCreation(pending);
            throw e;
        }
        metaGate.lockShared();
        try {
            if (!registry.transition(s, Phase.PENDING, Phase.COMMITTING)) {
                throw new VolumeException(VolumeException.Code.INSUFFICIENT_STORAGE, "shadow copy " + p.id()
                        + " of volume " + volume + " was released while being created: shadow storage is full");
            }
            try {
                appendDurable(new RowRecord.ShadowCreate(s.id, s.epoch, s.createdMillis, s.persistent));
            } catch (IOException e) {
                registry.transition(s, Phase.COMMITTING, Phase.ABORTED);
                freeUnneeded();
                throw e;
            }
            registry.transition(s, Phase.COMMITTING, Phase.COMMITTED);
        } finally {
            metaGate.unlockShared();
        }
        return info(s);
    }

    @Override
    public void abortShadowCopy(PendingShadowCopy pending) {
        abortCreation(pending);
        creationEnded(pending);
    }

    private void abortCreation(PendingShadowCopy pending) {
        Shadow s = ((Pending) pending).shadow()[0];
        if (s != null && registry.transition(s, Phase.PENDING, Phase.ABORTED)) {
            try {
                freeUnneeded();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "volume {0}: freeing versions of aborted copy {1}: {2}", volume,
                        s.id, e.getMessage());
            }
        }
    }

    @Override
    public boolean deleteShadowCopy(ShadowCopyId id, String reason) throws IOException {
        checkOpen();
        Shadow s = registry.get(id.uuid());
        if (s == null || registry.phase(s) != Phase.COMMITTED) {
            return false;
        }
        boolean deleted;
        metaGate.lockShared();
        try {
            deleted = deleteInternal(s);
        } finally {
            metaGate.unlockShared();
        }
        mergeWanted |= deleted;
        afterLocksReleased();
        return deleted;
    }

    /** Caller holds the metaGate shared. */
    private boolean deleteInternal(Shadow s) throws IOException {
        if (!registry.transition(s, Phase.COMMITTED, Phase.DELETING)) {
            return false;
        }
        s.readers.writeLock().lock(); // wait for running reads of this copy
        try {
            appendDurable(new RowRecord.ShadowDelete(s.id));
        } catch (IOException e) {
            registry.transition(s, Phase.DELETING, Phase.COMMITTED);
            s.readers.writeLock().unlock();
            throw e;
        }
        registry.transition(s, Phase.DELETING, Phase.DELETED);
        s.readers.writeLock().unlock();
        freeUnneeded();
        return true;
    }

    /** Drops versions no live copy needs; their slots are free (the deletion that freed them is durable). */
    void freeUnneeded() {
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
        freeAfterCommit(freed);
    }

    /**
     * Slots stop being referenced, but the last durable record may still name one of them as a chunk's live
     * version (the record that moved the chunk may be queued): they become reusable only after the next commit.
     */
    private void freeAfterCommit(List<Integer> freed) {
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

    /** Caller holds the metaGate shared and the roomLock. */
    private void release(Shadow s, String reason) throws IOException {
        if (registry.transition(s, Phase.PENDING, Phase.ABORTED)) {
            freeUnneeded();
            events.warning(volume, "shadow copy " + s.id + " could not be created: " + reason);
            return;
        }
        while (registry.phase(s) == Phase.COMMITTING) {
            Thread.onSpinWait(); // its creation record is being synced by a thread that needs no lock we hold
        }
        ShadowCopyInfo info = info(s);
        if (registry.phase(s) != Phase.COMMITTED) {
            return; // deleted meanwhile
        }
        events.shadowCopyReleasing(volume, info, reason); // the owner's record of the intent, before it is durable
        if (deleteInternal(s)) {
            LOG.log(System.Logger.Level.WARNING, "volume {0}: shadow copy {1} {2}", volume, s.id, reason);
            events.shadowCopyReleased(volume, info, reason);
            mergeWanted = true; // scheduled once no lock is held
        }
    }

    Shadow pin(ShadowCopyId id) throws IOException {
        checkOpen();
        Shadow s = registry.get(id.uuid());
        if (s == null || registry.phase(s) != Phase.COMMITTED) {
            throw notFound(id);
        }
        s.readers.readLock().lock();
        if (registry.phase(s) != Phase.COMMITTED) {
            s.readers.readLock().unlock();
            throw notFound(id);
        }
        return s;
    }

    private VolumeException notFound(ShadowCopyId id) {
        return new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + id + " on volume "
                + volume + " (list shadows --for " + volume + " shows the existing ones)");
    }

    @Override
    public void readShadowCopy(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        Shadow s = pin(id);
        try {
            RowMaps.readCopy(this, s.epoch, offset, dst);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public void mapShadowAllocation(ShadowCopyId id, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        Shadow s = pin(id);
        try {
            RowMaps.mapCopy(this, s.epoch, offset, length, visitor);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public void revert(ShadowCopyId id) throws IOException {
        checkOpen();
        Shadow target = pin(id);
        target.readers.readLock().unlock();
        for (Shadow later : registry.inPhases(Phase.COMMITTED).reversed()) {
            if (later.epoch > target.epoch) {
                deleteShadowCopy(new ShadowCopyId(later.id), "revert to " + id);
            }
        }
        commit();
        int[] freed;
        // Every stripe: a background merge works chunk by chunk under its stripe lock and must not land a chunk
        // between the revert's rewrite of every live location and its own check.
        lockStripes(0, chunks - 1);
        try {
            metaGate.lockShared();
            try {
                int newEpoch = epoch + 1;
                appendDurable(new RowRecord.Revert(target.id, newEpoch)); // metadata only: the revert is instant
                freed = state.applyRevert(target.epoch, newEpoch, volume);
                epoch = newEpoch;
            } finally {
                metaGate.unlockShared();
            }
        } finally {
            unlockStripes(0, chunks - 1);
        }
        freeAfterCommit(java.util.Arrays.stream(freed).boxed().toList());
        freeUnneeded();
        mergeWanted = true;
        afterLocksReleased();
    }

    @Override
    public ShadowStorageUsage shadowStorage() {
        long max = slots.maxBytes();
        return new ShadowStorageUsage(slots.usedBytes(), slots.allocatedBytes(), max == Long.MAX_VALUE ? -1 : max,
                files.diffPath().toString());
    }

    @Override
    public long shadowStorageKept() {
        int[] kept = releases.kept().stream().mapToInt(s -> s.epoch).sorted().toArray();
        if (kept.length == 0) {
            return 0;
        }
        long[] slotsKept = {0};
        java.util.Set<Long> liveCounted = new java.util.HashSet<>();
        state.versions.forEach((id, c, from, to, slot) -> {
            if (!Releases.anyIn(kept, from, to + 1)) {
                return;
            }
            if (slot >= 0) {
                slotsKept[0]++;
            } else if (slot == VersionIndex.BASE && state.location(c) >= 0 && liveCounted.add(c)) {
                slotsKept[0]++; // a kept copy reads the base here, so the live data cannot merge back out of its slot
            }
        });
        return slotsKept[0] * chunkSize;
    }

    @Override
    public void setShadowStorageLimit(long maxBytes) throws IOException {
        checkOpen();
        slots.setLimit(maxBytes);
        metaGate.lockShared();
        try {
            roomLock.lock();
            try {
                Shadow oldest;
                while (slots.overLimit() && (oldest = releases.oldest(true)) != null) {
                    release(oldest, "released because the shadow storage maximum was lowered to " + maxBytes
                            + " bytes");
                }
            } finally {
                roomLock.unlock();
            }
        } finally {
            metaGate.unlockShared();
        }
        mergeWanted = true; // live data in slots moves back to the base where no copy needs the base
        afterLocksReleased();
    }

    @Override
    public void mapChanges(int sinceSequence, ShadowCopyId asOf, long offset, long length,
                           BlockDevice.ExtentVisitor visitor) throws IOException {
        if (sinceSequence < trackingSince) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "changes of volume " + volume
                    + " since sequence " + sinceSequence + " are not known (tracking restarted at sequence "
                    + trackingSince + "); read the whole volume");
        }
        if (asOf == null) {
            RowMaps.mapChanges(this, sinceSequence, Integer.MAX_VALUE, offset, length, visitor);
            return;
        }
        Shadow s = pin(asOf);
        try {
            RowMaps.mapChanges(this, sinceSequence, s.epoch, offset, length, visitor);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public int trackingSince() {
        return trackingSince;
    }

    // ---------------------------------------------------------------- locks and lifecycle

    void lockStripes(long c0, long c1) {
        if (c1 - c0 + 1 >= STRIPES) {
            for (ReentrantLock l : stripes) {
                l.lock();
            }
            return;
        }
        int first = (int) (c0 % STRIPES);
        int last = (int) (c1 % STRIPES);
        if (first <= last) {
            for (int i = first; i <= last; i++) {
                stripes[i].lock();
            }
        } else {
            for (int i = 0; i <= last; i++) {
                stripes[i].lock();
            }
            for (int i = first; i < STRIPES; i++) {
                stripes[i].lock();
            }
        }
    }

    void unlockStripes(long c0, long c1) {
        if (c1 - c0 + 1 >= STRIPES) {
            for (ReentrantLock l : stripes) {
                l.unlock();
            }
            return;
        }
        int first = (int) (c0 % STRIPES);
        int last = (int) (c1 % STRIPES);
        if (first <= last) {
            for (int i = first; i <= last; i++) {
                stripes[i].unlock();
            }
        } else {
            for (int i = 0; i <= last; i++) {
                stripes[i].unlock();
            }
            for (int i = first; i < STRIPES; i++) {
                stripes[i].unlock();
            }
        }
    }

    /** Moves a merged chunk's live version to the base (the merger holds its stripe lock and the metaGate). */
    void mergedToBase(long c) throws IOException {
        live(c, state.liveEpoch.get(c), VersionIndex.BASE, false);
    }

    private void checkOpen() throws VolumeException {
        if (closed) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + volume + " is closed");
        }
        checkNotFailed();
    }

    private void checkNotFailed() throws VolumeException {
        if (failure != null) {
            throw new VolumeException(VolumeException.Code.FAILED, "volume " + volume + " stopped after a failed "
                    + "fdatasync (" + failure.getMessage() + "); restart the service to recover it from its journal",
                    failure);
        }
    }

    @Override
    public void checkpoint() throws IOException {
        checkpoints.runNow(false);
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (periodicCommit != null) {
                periodicCommit.cancel(false);
            }
            merger.shutdown();
            checkpoints.shutdown();
            commit();
            checkpoints.runNow(true);
        } finally {
            try {
                journal.close();
            } finally {
                try {
                    slots.close();
                } finally {
                    try {
                        base.close();
                    } finally {
                        buffers.close();
                    }
                }
            }
        }
    }
}
