package dev.shadowcopy.provider.cow;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.SlotStore;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.MetaGate;
import dev.shadowcopy.provider.store.ChunkBuffers;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.EagerWriteback;
import dev.shadowcopy.provider.store.SequentialStreams;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.provider.store.Extents;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.Releases;
import dev.shadowcopy.platform.GroupSync;
import dev.shadowcopy.platform.NoSpaceException;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.ShadowStorageFullException;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The copy-on-write software provider for one managed volume.
 *
 * <h2>Model</h2>
 * Time is cut into epochs; taking a shadow copy closes the current epoch ({@code s}) and opens {@code s+1}.
 * {@link ChunkEpochs} records for each chunk the epoch its live content was written in ({@code w}). A copy of
 * epoch {@code s} sees the live chunk if {@code w <= s}, otherwise the preserved version whose record range
 * contains {@code s} ({@link VersionIndex}).
 *
 * <h2>Write path</h2>
 * Rewrite (every chunk of the request already has {@code w == current epoch}): one pwrite to the backing
 * file, no lock but the volume's shared gate — the same cost whatever the number of copies. First touch of a
 * chunk in an epoch: under the chunk's stripe lock, if a live copy has its epoch in {@code [w, current)},
 * the old content is copied to a shadow-storage slot (or recorded as zeros without copying when the chunk is
 * a hole or reads as zeros) — once, for all those copies. Then, in this order:
 * <ol>
 *   <li>fdatasync of shadow storage: the old content is durable (skipped when only non-persistent copies
 *       need it: they do not outlive a crash, see {@code modify});</li>
 *   <li>PRESERVE (or TOUCH, when no copy needs the data) records appended to the journal and fdatasynced:
 *       the map entry is durable. When no persistent copy needs any of them, they are change tracking's and
 *       a dropped non-persistent copy's business only, and the sync is skipped if a durable INTENT record
 *       already covers the chunks' region in this epoch (else the intent is appended and synced with them):
 *       after a crash, recovery counts the intent's chunks as written (see {@link CowRecovery});</li>
 *   <li>the in-memory index and epochs are updated (index before epoch, so a concurrent reader that sees
 *       the new epoch finds the record);</li>
 *   <li>only now is the backing file written.</li>
 * </ol>
 * So the old data and its map entry are durable before the live chunk is overwritten (the core invariant).
 * Both syncs are group commits shared by concurrent writers.
 *
 * <h2>Read path of a copy</h2>
 * Lock-free: read the epoch, read the live file, re-read the epoch; if a writer moved the chunk past the
 * copy's epoch meanwhile, read the preserved version instead (it was published before the epoch changed).
 *
 * <h2>Not done, deliberately</h2>
 * No background copying, no write-back caching of live writes: a write is acknowledged after it reached the
 * page cache of the backing file, durability comes from flush/FUA, as with a plain file.
 *
 * <p>Locking order: volume gate (in ManagedVolume) → stripe locks (ascending) → {@code metaGate} (shared for
 * append-sync-apply sequences, exclusive for checkpoint capture) → {@code registryLock} (live set and index
 * decisions) → leaf locks inside the index, registry, diff area and journal.
 */
public final class CowEngine implements VolumeEngine {
    private static final System.Logger LOG = System.getLogger(CowEngine.class.getName());
    private static final int STRIPES = 4096;

    final String volume;
    final EngineFiles files;
    private final StorageFile origin;
    private final GroupSync originSync;
    private final long size;
    private final int chunkSize;
    private final int shift;
    private final long chunks;
    final ChunkEpochs epochs;
    final VersionIndex index;
    final SlotStore diff;
    final ShadowRegistry registry;
    private final VolumeEvents events;
    /** Which copy goes when room is needed: the oldest the owner does not keep. */
    private final Releases releases;
    private final int maxShadowCopies;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    final MetaGate metaGate = new MetaGate();
    /** Serialises "is this record still needed" decisions with live-set changes. */
    private final ReentrantLock registryLock = new ReentrantLock();
    /** One "make room" at a time, so that two writers do not delete two copies for one slot. */
    private final ReentrantLock roomLock = new ReentrantLock();
    private final ChunkBuffers buffers;
    /**
     * Preserve-ahead for sequential first-touch streams: 1 to 4 MiB ahead. Not more: a creation's hold waits for
     * the writes in flight, and a window's copy-out + sync (~1 ms per MiB here) is one of them. 8 MiB windows
     * gave the same sequential first-touch rate and creation p99 7-14 ms at 200 MB/s offered; 4 MiB gave 7-9.5.
     */
    private final SequentialStreams streams;
    private final CheckpointScheduler checkpoints;
    private final EagerWriteback writeback;
    volatile Journal<JournalRecord> journal;
    volatile int epoch;
    volatile int trackingSince;
    private volatile boolean trackingSuspendedInEpoch;
    /** The copy a revert is restoring, until its end record is durable (checkpoints carry it). */
    volatile UUID revertInProgress;
    private volatile boolean closed;
    /** log2 of the chunks per write-intent region. */
    private final int intentShift;
    /**
     * Per intent region: 1 + the epoch whose INTENT record is durable in the current journal generation, 0 if
     * none. Set after the sync, under {@code metaGate} shared; cleared under it exclusive when the generation
     * changes (the records of the old one are deleted once the checkpoint is durable).
     */
    private volatile AtomicIntegerArray intents;

    CowEngine(EngineFiles files, CowRecovery.Recovered state, VolumeEvents events, int maxShadowCopies,
              long checkpointBytes, boolean inlineCheckpoints, long intentRegionBytes) {
        this.volume = files.volumeName();
        this.files = files;
        this.origin = files.origin();
        this.originSync = new GroupSync(origin);
        this.size = files.size();
        this.chunkSize = files.chunkSize();
        this.shift = Integer.numberOfTrailingZeros(chunkSize);
        this.chunks = (size + chunkSize - 1) >>> shift;
        this.epochs = state.epochs();
        this.index = state.index();
        this.diff = state.diff();
        this.registry = state.registry();
        this.journal = state.journal();
        this.epoch = state.epoch();
        this.trackingSince = state.trackingSince();
        this.events = events;
        this.releases = new Releases(volume, registry, events, this::info);
        this.maxShadowCopies = maxShadowCopies;
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
        this.buffers = new ChunkBuffers(chunkSize);
        this.streams = new SequentialStreams(Math.max(1, (1 << 20) / chunkSize), Math.max(1, (4 << 20) / chunkSize));
        this.checkpoints = new CheckpointScheduler(this, checkpointBytes, inlineCheckpoints);
        this.writeback = new EagerWriteback(origin, inlineCheckpoints ? null : Maintenance.EXECUTOR);
        long regionChunks = Math.max(1, Long.highestOneBit(Math.max(1, intentRegionBytes / chunkSize)));
        this.intentShift = Long.numberOfTrailingZeros(regionChunks);
        this.intents = new AtomicIntegerArray((int) ((chunks + regionChunks - 1) >>> intentShift));
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int chunkSize() {
        return chunkSize;
    }

    long chunkCount() {
        return chunks;
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
            if (epochs.get(c) != e) {
                long through = Math.min(chunks - 1, c1 + streams.lookAhead(c0, c1));
                modify(c0, through, c1, e, () -> origin.write(offset, src));
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
            modify(offset >>> shift, c1, c1, epoch, () -> origin.punchHole(offset, length));
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate) throws IOException {
        if (length > 0) {
            long c1 = (offset + length - 1) >>> shift;
            modify(offset >>> shift, c1, c1, epoch, () -> {
                if (mayDeallocate) {
                    origin.punchHole(offset, length);
                } else {
                    origin.zeroRange(offset, length);
                }
            });
        }
    }

    @Override
    public void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        FileExtents.map(origin, offset, length, visitor);
    }

    /** An origin mutation that runs after the metadata of its chunks is durable. */
    @FunctionalInterface
    interface OriginChange {
        void apply() throws IOException;
    }

    /**
     * First touch of chunks {@code c0..c1} in epoch {@code e}: preserve what live copies need, make the
     * records durable, then apply {@code change} to the backing file, which covers {@code c0..requestEnd}; the
     * chunks after it are a sequential stream's look-ahead, preserved only while shadow storage has free room (a
     * guess never releases a copy nor refuses the write). See the class comment for the order.
     *
     * @throws ShadowStorageFullException when the request's own chunks need room only kept copies could give;
     *                                    nothing of the write was applied
     */
    private void modify(long c0, long c1, long requestEnd, int e, OriginChange change) throws IOException {
        checkOpen();
        lockStripes(c0, c1);
        try {
            metaGate.lockShared();
            List<JournalRecord.Preserve> preserved = new ArrayList<>();
            try {
                long last = c1; // the look-ahead ends early where preserving would need room
                boolean any = false;
                boolean persistentData = false;   // preserved data a persistent copy reads
                boolean persistentRecord = false; // a record a persistent copy reads (data or zeros)
                for (long c = c0; c <= last; c++) {
                    int w = epochs.get(c);
                    if (w == e) {
                        continue;
                    }
                    if (registry.anyLiveIn(w, e)) {
                        int slot = preserve(c, w, e, c > requestEnd);
                        if (slot == NO_ROOM) {
                            last = c - 1;
                            break;
                        }
                        any = true;
                        if (slot != NOT_NEEDED) {
                            preserved.add(new JournalRecord.Preserve(c, w, e - 1, slot));
                            // No copy can be added while we hold the gate, only deleted: a "no" stays true.
                            boolean couldMatter = slot >= 0 ? !persistentData : !persistentRecord;
                            if (couldMatter && registry.anyPersistentLiveIn(w, e)) {
                                persistentRecord = true;
                                persistentData = persistentData || slot >= 0;
                            }
                        }
                    } else {
                        any = true;
                    }
                }
                if (any) {
                    if (persistentData) {
                        diff.sync(); // durable before the records that point at the data
                    }
                    // Data kept only for non-persistent copies is not synced (dm-snapshot's transient store
                    // does the same): a crash releases those copies at open, and recovery drops every record
                    // whose epoch range holds no surviving copy, so nothing reads such a slot after a crash.
                    // Such records, and TOUCH records, are change tracking's: a durable intent covers them.
                    List<JournalRecord> records = new ArrayList<>(preserved);
                    appendTouches(records, c0, last, e, preserved);
                    List<JournalRecord.Intent> announced =
                            persistentRecord ? List.of() : appendIntents(records, c0, last, e);
                    if (!records.isEmpty()) {
                        appendMakingRoom(records, preserved, c0);
                        if (persistentRecord || !announced.isEmpty()) {
                            journal.sync(); // the map entries (or the intent) are durable before the origin changes
                        }
                        for (JournalRecord.Intent i : announced) {
                            if (records.contains(i)) { // not dropped because the journal could not grow
                                intents.set((int) (i.first() >>> intentShift), e + 1);
                            }
                        }
                    }
                    apply(preserved, c0, last, e);
                }
            } catch (ShadowStorageFullException refused) {
                // nothing of the write is applied: the slots copied for it are given back
                for (JournalRecord.Preserve p : preserved) {
                    if (p.slot() >= 0) {
                        diff.unallocate(p.slot());
                    }
                }
                throw refused;
            } finally {
                metaGate.unlockShared();
            }
            change.apply();
        } finally {
            unlockStripes(c0, c1);
        }
        writeback.wrote((c1 - c0 + 1) << shift);
        checkpoints.maybeSchedule();
    }

    /**
     * INTENT records, put first in {@code records}, for the regions of {@code c0..c1} that have none durable for
     * epoch {@code e} yet. None while tracking is suspended (there is nothing to protect).
     */
    private List<JournalRecord.Intent> appendIntents(List<JournalRecord> records, long c0, long c1, int e) {
        if (trackingSuspendedInEpoch || records.isEmpty()) {
            return List.of();
        }
        List<JournalRecord.Intent> out = new ArrayList<>();
        AtomicIntegerArray marks = intents;
        for (long r = c0 >>> intentShift; r <= c1 >>> intentShift; r++) {
            if (marks.get((int) r) != e + 1) {
                long first = r << intentShift;
                int count = (int) (Math.min(chunks, first + (1L << intentShift)) - first);
                out.add(new JournalRecord.Intent(first, count, e));
            }
        }
        records.addAll(0, out);
        return out;
    }

    /** A new journal generation holds no intent yet. Caller holds {@code metaGate} exclusive. */
    void forgetIntents() {
        intents = new AtomicIntegerArray(intents.length());
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

    /** TOUCH records for chunks that change epoch without being preserved (change tracking). */
    private void appendTouches(List<JournalRecord> records, long c0, long c1, int e,
                               List<JournalRecord.Preserve> preserved) {
        if (trackingSuspendedInEpoch) {
            return;
        }
        long runStart = -1;
        int p = 0;
        for (long c = c0; c <= c1 + 1; c++) {
            boolean touch = false;
            if (c <= c1 && epochs.get(c) != e) {
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
    private void apply(List<JournalRecord.Preserve> preserved, long c0, long c1, int e) throws IOException {
        int[] unneeded = new int[preserved.size()];
        int n = 0;
        registryLock.lock();
        try {
            for (JournalRecord.Preserve p : preserved) {
                if (registry.anyLiveIn(p.from(), p.to() + 1)) {
                    index.insert(p.chunk(), p.from(), p.to(), p.slot());
                } else if (p.slot() >= 0) {
                    unneeded[n++] = p.slot(); // its copies were deleted meanwhile
                }
            }
        } finally {
            registryLock.unlock();
        }
        for (long c = c0; c <= c1; c++) {
            if (epochs.get(c) != e) {
                epochs.set(c, e);
            }
        }
        if (n > 0) {
            diff.release(java.util.Arrays.copyOf(unneeded, n));
        }
    }

    private static final int NOT_NEEDED = Integer.MIN_VALUE;
    /** A look-ahead chunk that would need room: the look-ahead stops before it. */
    private static final int NO_ROOM = Integer.MIN_VALUE + 1;

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
                int slot = diff.allocate();
                if (slot >= 0) {
                    try {
                        diff.write(slot, content);
                        return slot;
                    } catch (IOException ex) {
                        // full file system, quota or a failing disk under shadow storage: the live write must
                        // still succeed, so release copies instead (VSS does the same)
                        diff.unallocate(slot);
                        if (speculative) {
                            return NO_ROOM;
                        }
                        if (!makeRoom(c, w, e, describe(ex), true)) {
                            return NOT_NEEDED;
                        }
                    }
                } else if (speculative) {
                    return NO_ROOM;
                } else if (!makeRoom(c, w, e, "shadow storage reached its maximum size of " + diff.maxBytes()
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
     * Deletes the oldest shadow copy the owner does not keep, to make room for chunk {@code c}. Returns whether a
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
            if (!writeFailed && diff.usedBytes() + chunkSize <= diff.maxBytes()) {
                return true; // another writer made room meanwhile
            }
            Shadow oldest = releases.oldest(true);
            if (!registry.anyLiveIn(w, e)) {
                return false; // a deletion we waited for took the copies that needed it
            }
            if (!writeFailed && diff.usedBytes() + chunkSize <= diff.maxBytes()) {
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

    /** Deletes (or, if still being created, aborts) {@code s} and reports it. */
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
        }
    }

    /**
     * Appends records; if the file system is full, releases copies (and their records) until they fit. With no
     * copy left to release, change tracking is suspended; with only kept copies left that still need records of
     * this write, the write is refused.
     */
    private void appendMakingRoom(List<JournalRecord> records, List<JournalRecord.Preserve> preserved, long c0)
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
                        suspendTracking(full);
                        records.removeIf(r -> r instanceof JournalRecord.Touch || r instanceof JournalRecord.Intent);
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
    private void dropUnneeded(List<JournalRecord> records, List<JournalRecord.Preserve> preserved)
            throws IOException {
        List<JournalRecord.Preserve> dropped = new ArrayList<>();
        preserved.removeIf(p -> {
            boolean drop = !registry.anyLiveIn(p.from(), p.to() + 1);
            if (drop) {
                dropped.add(p);
            }
            return drop;
        });
        records.removeIf(r -> r instanceof JournalRecord.Preserve p && dropped.contains(p));
        int[] slots = dropped.stream().mapToInt(JournalRecord.Preserve::slot).filter(x -> x >= 0).toArray();
        diff.release(slots);
    }

    /** Change tracking cannot vouch for anything before now: restart it at the current epoch (durable). */
    void trackingUntrusted(String why) throws IOException {
        journal.appendUrgent(new JournalRecord.TrackingReset(epoch));
        journal.sync();
        trackingSince = Math.max(trackingSince, epoch);
        events.warning(volume, "change tracking restarts: " + why + "; the next incremental backup reads the whole "
                + "volume and stores only what differs");
    }

    private void suspendTracking(IOException why) throws IOException {
        if (!trackingSuspendedInEpoch) {
            journal.appendUrgent(new JournalRecord.TrackingReset(epoch));
            journal.sync();
            trackingSince = Math.max(trackingSince, epoch);
            trackingSuspendedInEpoch = true;
            events.warning(volume, "change tracking suspended (metadata cannot grow: " + why.getMessage()
                    + "); the next incremental backup reads the whole volume");
        }
    }

    private void lockStripes(long c0, long c1) {
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
        } else { // wrapped: ascending order is 0..last then first..end
            for (int i = 0; i <= last; i++) {
                stripes[i].lock();
            }
            for (int i = first; i < STRIPES; i++) {
                stripes[i].lock();
            }
        }
    }

    private void unlockStripes(long c0, long c1) {
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

    // ---------------------------------------------------------------- shadow copies

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

    private record Pending(ShadowCopyId id, boolean persistent, Shadow[] shadow) implements PendingShadowCopy {}

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
        originSync.sync(); // most dirty data reaches the disk before writes are held
        writeback.flushed();
        return new Pending(id, persistent, new Shadow[1]);
    }

    @Override
    public void commitShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        if (p.shadow()[0] != null) {
            throw new IllegalStateException("shadow copy " + p.id() + " already committed");
        }
        int s = epoch;
        if (s == Integer.MAX_VALUE - 1) {
            throw new VolumeException(VolumeException.Code.FAILED, "volume " + volume + " has used all epochs");
        }
        p.shadow()[0] = registry.add(p.id().uuid(), s, System.currentTimeMillis(), p.persistent(), Phase.PENDING);
        epoch = s + 1; // writes from now on belong to the next epoch
        trackingSuspendedInEpoch = false;
    }

    @Override
    public ShadowCopyInfo completeShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        Shadow s = p.shadow()[0];
        if (s == null) {
            throw new IllegalStateException("shadow copy " + p.id() + " was not committed");
        }
        try {
            // Every write acknowledged before the instant is durable before the copy is: it reads them from
            // the backing file (writes after the instant preserved the chunks they overwrote). Non-persistent
            // copies too: change tracking counts from their epoch, and a backup read from one must not hold a
            // write that a crash could then take back from the live volume unnoticed.
            originSync.sync();
        } catch (IOException e) {
            abortShadowCopy(pending);
            throw e;
        }
        metaGate.lockShared();
        try {
            if (!registry.transition(s, Phase.PENDING, Phase.COMMITTING)) {
                throw new VolumeException(VolumeException.Code.INSUFFICIENT_STORAGE, "shadow copy " + p.id()
                        + " of volume " + volume + " was released while being created: shadow storage is full");
            }
            try {
                journal.appendUrgent(new JournalRecord.ShadowCreate(s.id, s.epoch, s.createdMillis, s.persistent));
                journal.sync();
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
        Shadow s = ((Pending) pending).shadow()[0];
        if (s != null && registry.transition(s, Phase.PENDING, Phase.ABORTED)) {
            try {
                freeUnneeded();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "volume {0}: freeing shadow storage of aborted copy {1}: {2}",
                        volume, s.id, e.getMessage());
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
        checkpoints.maybeSchedule(); // outside the gate: an inline checkpoint takes it exclusively
        return deleted;
    }

    /** Caller holds metaGate shared. Durable deletion, then frees what no remaining copy needs. */
    private boolean deleteInternal(Shadow s) throws IOException {
        if (!registry.transition(s, Phase.COMMITTED, Phase.DELETING)) {
            return false;
        }
        s.readers.writeLock().lock(); // wait for running reads of this copy
        try {
            journal.appendUrgent(new JournalRecord.ShadowDelete(s.id));
            journal.sync(); // durable before any write may skip preserving for this copy
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

    /** Drops every record no live copy needs and returns its slot. */
    void freeUnneeded() throws IOException {
        int[] slots;
        registryLock.lock();
        try {
            slots = index.removeIf((c, from, to, slot) -> !registry.anyLiveIn(from, to + 1));
        } finally {
            registryLock.unlock();
        }
        diff.release(slots);
    }

    Shadow readable(ShadowCopyId id) throws VolumeException {
        Shadow s = registry.get(id.uuid());
        if (s == null || registry.phase(s) != Phase.COMMITTED) {
            throw notFound(id);
        }
        return s;
    }

    VolumeException notFound(ShadowCopyId id) {
        return new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + id + " on volume "
                + volume + " (list shadows --for " + volume + " shows the existing ones)");
    }

    @Override
    public void readShadowCopy(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        Shadow s = pin(id);
        try {
            ShadowReader.read(this, s.epoch, offset, dst);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public void mapShadowAllocation(ShadowCopyId id, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        Shadow s = pin(id);
        try {
            ShadowReader.mapAllocation(this, s.epoch, offset, length, visitor);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    /** Takes a read pin on a committed copy so that its preserved chunks stay. */
    private Shadow pin(ShadowCopyId id) throws IOException {
        checkOpen();
        Shadow s = readable(id);
        s.readers.readLock().lock();
        if (registry.phase(s) != Phase.COMMITTED) {
            s.readers.readLock().unlock();
            throw notFound(id);
        }
        return s;
    }

    StorageFile origin() {
        return origin;
    }

    int shift() {
        return shift;
    }

    // ---------------------------------------------------------------- revert, storage, tracking

    @Override
    public void revert(ShadowCopyId id) throws IOException {
        checkOpen();
        Shadow target = readable(id);
        for (Shadow later : registry.inPhases(Phase.COMMITTED).reversed()) {
            if (later.epoch > target.epoch) {
                deleteShadowCopy(new ShadowCopyId(later.id), "revert to " + id);
            }
        }
        // A revert cut short by a crash is finished at open from the target's preserved data, which is not yet
        // durable if only non-persistent copies needed it.
        diff.sync();
        metaGate.lockShared();
        try {
            journal.appendUrgent(new JournalRecord.RevertBegin(target.id));
            journal.sync();
            revertInProgress = target.id;
        } finally {
            metaGate.unlockShared();
        }
        Reverter.run(this, target);
    }

    /** Called by the {@link Reverter} once every reverted chunk is durable. */
    void finishRevert(Shadow target, int newEpoch) throws IOException {
        metaGate.lockShared();
        try {
            journal.appendUrgent(new JournalRecord.RevertEnd(target.id, newEpoch));
            journal.sync();
            CowRecovery.applyRevertEnd(epochs, target.epoch, newEpoch);
            epoch = newEpoch;
            revertInProgress = null;
        } finally {
            metaGate.unlockShared();
        }
    }

    @Override
    public ShadowStorageUsage shadowStorage() {
        long max = diff.maxBytes();
        return new ShadowStorageUsage(diff.usedBytes(), diff.allocatedBytes(), max == Long.MAX_VALUE ? -1 : max,
                files.diffPath().toString());
    }

    @Override
    public long shadowStorageKept() {
        int[] kept = releases.kept().stream().mapToInt(s -> s.epoch).sorted().toArray();
        if (kept.length == 0) {
            return 0;
        }
        long[] slots = {0};
        index.forEach((id, c, from, to, slot) -> {
            if (slot >= 0 && Releases.anyIn(kept, from, to + 1)) {
                slots[0]++; // one record per slot
            }
        });
        return slots[0] * chunkSize;
    }

    @Override
    public void setShadowStorageLimit(long maxBytes) throws IOException {
        checkOpen();
        diff.setLimit(maxBytes);
        metaGate.lockShared(); // lock order: metaGate before roomLock, as on the write path
        try {
            roomLock.lock();
            try {
                Shadow oldest;
                while (diff.overLimit() && (oldest = releases.oldest(true)) != null) {
                    release(oldest, "released because the shadow storage maximum was lowered to " + maxBytes
                            + " bytes");
                }
            } finally {
                roomLock.unlock();
            }
        } finally {
            metaGate.unlockShared();
        }
        checkpoints.maybeSchedule();
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
            ShadowReader.mapChanges(this, sinceSequence, Integer.MAX_VALUE, offset, length, visitor);
            return;
        }
        Shadow s = pin(asOf);
        try {
            ShadowReader.mapChanges(this, sinceSequence, s.epoch, offset, length, visitor);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public int trackingSince() {
        return trackingSince;
    }

    @Override
    public void checkpoint() throws IOException {
        checkpoints.runNow(false);
    }

    private void checkOpen() throws VolumeException {
        if (closed) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + volume + " is closed");
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            checkpoints.shutdown();
            originSync.sync();
            checkpoints.runNow(true);
        } finally {
            try {
                journal.close();
            } finally {
                try {
                    diff.close();
                } finally {
                    try {
                        origin.close();
                    } finally {
                        buffers.close();
                    }
                }
            }
        }
    }

    /** Closes files without a checkpoint, as a crash would leave them (tests). */
    void closeAbruptly() throws IOException {
        closed = true;
        checkpoints.shutdown();
        journal.close();
        diff.close();
        origin.close();
        buffers.close();
    }

    /** Epoch a copy must have been taken at for {@code id}, for tests and the service. */
    int sequenceOf(UUID id) {
        Shadow s = registry.get(id);
        return s == null ? -1 : s.epoch;
    }
}
