package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.GroupSync;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The kernel of the software providers that cut time into epochs (copy-on-write and redirect-on-write): what both do
 * the same way, once. A subclass keeps only its write path, its revert, what it frees and how it makes a record
 * durable.
 *
 * <h2>Model</h2>
 * Taking a shadow copy closes the current epoch {@code s} and opens {@code s + 1}; the copy's sequence is {@code s}.
 * {@link #liveEpoch} holds the epoch each chunk's live version was written in; {@link #versions} the older versions
 * copies still need, each serving a range of epochs. A copy of epoch {@code s} reads a chunk's live version if it was
 * written at or before {@code s}, else the recorded version whose range holds {@code s} — the subclass's
 * {@link CopyReader.Locator} says where that is.
 *
 * <h2>Copy lifecycle (durability)</h2>
 * {@link ShadowRegistry.Phase}: prepare (checks, {@link #flush}) → commit with writes held ({@code PENDING}: the epoch
 * moves, writes from now on keep what the copy needs; no I/O) → complete ({@link #flush}: every write acknowledged
 * before the instant is durable; then {@code SHADOW_CREATE} durable, {@code COMMITTED}). A crash before the creation
 * record leaves no copy; what was kept for it is dropped at open. Deletion makes {@code SHADOW_DELETE} durable
 * <em>before</em> the copy leaves the live set (once it has left, writes stop keeping what it needs), waiting for its
 * running reads first. Releasing a copy to make room is a deletion the owner hears of before
 * ({@link VolumeEvents#shadowCopyReleasing}) and after.
 *
 * <h2>Locking</h2>
 * Order: volume gate (ManagedVolume) → {@link #stripes} (ascending) → {@link #metaGate} (shared for every
 * append-sync-apply sequence, exclusive for a checkpoint's rotation and capture) → {@link #roomLock} → the subclass's
 * commit lock, if any → {@link #registryLock} → leaf locks (index, registry, slots, journal append, group sync). Reads
 * take a copy's read pin ({@link Shadow#readers}) and leaf locks only.
 */
public abstract class EpochEngine implements VolumeEngine {
    private static final System.Logger LOG = System.getLogger(EpochEngine.class.getName());
    private static final int STRIPES = 4096;

    /** What recovery hands over: the rebuilt state and the journal reopened for appending. */
    public record Recovered(ChunkEpochs liveEpoch, VersionIndex versions, SlotStore slots, ShadowRegistry registry,
                            Journal<JournalRecord> journal, int epoch, int trackingSince) {}

    protected final String volume;
    protected final EngineFiles files;
    /** The live data (a sparse file, an existing file or a block device). */
    protected final StorageFile origin;
    protected final GroupSync originSync;
    protected final long size;
    protected final int chunkSize;
    /** log2 of {@link #chunkSize}. */
    protected final int shift;
    protected final long chunks;
    protected final ChunkEpochs liveEpoch;
    protected final VersionIndex versions;
    /** Shadow storage. */
    protected final SlotStore slots;
    protected final ShadowRegistry registry;
    protected final VolumeEvents events;
    /** Which copy goes when room is needed: the oldest the owner does not keep. */
    protected final Releases releases;
    protected final ChangeTracking tracking;
    protected final StripeLocks stripes = new StripeLocks(STRIPES);
    protected final MetaGate metaGate = new MetaGate();
    /** Serialises "is this version still needed" decisions with live-set changes. */
    protected final ReentrantLock registryLock = new ReentrantLock();
    /** One room-making decision at a time, so that two writers do not release two copies for one slot. */
    protected final ReentrantLock roomLock = new ReentrantLock();
    protected final ChunkBuffers buffers;
    protected final Checkpoints checkpoints;
    protected final CopyReader reader;
    final JournalCodec codec;
    private final int maxShadowCopies;
    protected volatile Journal<JournalRecord> journal;
    protected volatile int epoch;
    protected volatile boolean closed;

    protected EpochEngine(EngineFiles files, Recovered r, EngineOptions options, VolumeEvents events,
                          JournalCodec codec) {
        this.volume = files.volumeName();
        this.files = files;
        this.origin = files.origin();
        this.originSync = new GroupSync(origin);
        this.size = files.size();
        this.chunkSize = files.chunkSize();
        this.shift = Integer.numberOfTrailingZeros(chunkSize);
        this.chunks = (size + chunkSize - 1) >>> shift;
        this.liveEpoch = r.liveEpoch();
        this.versions = r.versions();
        this.slots = r.slots();
        this.registry = r.registry();
        this.journal = r.journal();
        this.epoch = r.epoch();
        this.events = events;
        this.codec = codec;
        this.releases = new Releases(volume, registry, events, this::info);
        this.tracking = new ChangeTracking(volume, events, r.trackingSince());
        this.maxShadowCopies = options.maxShadowCopies();
        this.buffers = new ChunkBuffers(chunkSize);
        this.checkpoints = new Checkpoints(this, options.checkpointBytes(), options.inlineMaintenance());
        this.reader = new CopyReader(this::locate, origin, slots, shift, volume);
    }

    // ---------------------------------------------------------------- what each engine does its own way

    /**
     * Where the version of chunk {@code c} that a reader of epoch {@code asOf} sees is now
     * ({@link CopyReader#LIVE}: the live volume's).
     */
    protected abstract int locate(int asOf, long c);

    /** Makes {@code record} durable after everything journalled before it. */
    protected abstract void appendDurable(JournalRecord record) throws IOException;

    /** Drops every version no live copy needs and frees its slot (at once, or once that is durable). */
    protected abstract void freeUnneeded() throws IOException;

    /**
     * A checkpoint's capture, under {@link #metaGate} exclusive, of the state as of {@code header} (the journal
     * already rotated to {@code header.nextGeneration()}); written after the gate is released.
     */
    protected abstract Checkpoints.Image capture(CheckpointFile.Header header, List<CheckpointFile.Shadow> copies)
            throws IOException;

    /** Before the journal rotates (metaGate exclusive): what must be durable in the old generation first. */
    protected abstract void beforeRotation(Journal<JournalRecord> old) throws IOException;

    /** A creation began (prepare) or ended (complete, abort, or a failed prepare; once each). */
    protected void creationStarted() {}

    protected void creationEnded() {}

    /** A copy left the live set (deleted or released); called under locks. */
    protected void copyGone() {}

    /** Background work wanted while locks were held: run or schedule it now that none is. */
    protected void afterLocksReleased() {
        checkpoints.maybeSchedule();
    }

    /** Stops the subclass's own background work before the final checkpoint. */
    protected void stopBackgroundWork() {}

    /** Refuses new work after a failure the subclass cannot recover from without a reopen. */
    protected void checkHealthy() throws VolumeException {}

    // ---------------------------------------------------------------- size, reads

    @Override
    public final long size() {
        return size;
    }

    @Override
    public final int chunkSize() {
        return chunkSize;
    }

    public final long chunkCount() {
        return chunks;
    }

    @Override
    public final void readShadowCopy(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        Shadow s = pin(id);
        try {
            reader.read(s.epoch, offset, dst, false);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public final void readShadowCopyUncached(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        Shadow s = pin(id);
        try {
            reader.read(s.epoch, offset, dst, true);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public final void mapShadowAllocation(ShadowCopyId id, long offset, long length,
                                          BlockDevice.ExtentVisitor visitor) throws IOException {
        Shadow s = pin(id);
        try {
            reader.mapAllocation(s.epoch, offset, length, visitor);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public final void mapChanges(int sinceSequence, ShadowCopyId asOf, long offset, long length,
                                 BlockDevice.ExtentVisitor visitor) throws IOException {
        tracking.check(sinceSequence);
        if (asOf == null) {
            ChangeTracking.mapChanges(liveEpoch, versions, shift, sinceSequence, CopyReader.LIVE, offset, length,
                    visitor);
            return;
        }
        Shadow s = pin(asOf);
        try {
            ChangeTracking.mapChanges(liveEpoch, versions, shift, sinceSequence, s.epoch, offset, length, visitor);
        } finally {
            s.readers.readLock().unlock();
        }
    }

    @Override
    public final int trackingSince() {
        return tracking.since();
    }

    /** Takes a read pin on a committed copy, so that the versions it needs stay; the caller unlocks it. */
    protected final Shadow pin(ShadowCopyId id) throws IOException {
        checkOpen();
        Shadow s = readable(id);
        s.readers.readLock().lock();
        if (registry.phase(s) != Phase.COMMITTED) {
            s.readers.readLock().unlock();
            throw notFound(id);
        }
        return s;
    }

    private Shadow readable(ShadowCopyId id) throws VolumeException {
        Shadow s = registry.get(id.uuid());
        if (s == null || registry.phase(s) != Phase.COMMITTED) {
            throw notFound(id);
        }
        return s;
    }

    private VolumeException notFound(ShadowCopyId id) {
        return new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + id + " on volume "
                + volume + " (list shadows --for " + volume + " shows the existing ones)");
    }

    // ---------------------------------------------------------------- copy lifecycle

    @Override
    public final List<ShadowCopyInfo> shadowCopies() {
        List<ShadowCopyInfo> out = new ArrayList<>();
        for (Shadow s : registry.inPhases(Phase.COMMITTED)) {
            out.add(info(s));
        }
        return out;
    }

    public final ShadowCopyInfo info(Shadow s) {
        return new ShadowCopyInfo(new ShadowCopyId(s.id), volume, s.epoch, Instant.ofEpochMilli(s.createdMillis),
                s.persistent, size);
    }

    private record Pending(ShadowCopyId id, boolean persistent, Shadow[] shadow, AtomicBoolean ended)
            implements PendingShadowCopy {}

    @Override
    public final PendingShadowCopy prepareShadowCopy(ShadowCopyId id, boolean persistent) throws IOException {
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
        creationStarted();
        try {
            flush(); // most dirty data reaches the disk before writes are held
        } catch (IOException | RuntimeException e) {
            ended(p);
            throw e;
        }
        return p;
    }

    /** Writes held: fixes the instant. No I/O. */
    @Override
    public final void commitShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        if (p.shadow()[0] != null) {
            throw new IllegalStateException("shadow copy " + p.id() + " already committed");
        }
        int s = epoch;
        int next = nextEpoch();
        p.shadow()[0] = registry.add(p.id().uuid(), s, System.currentTimeMillis(), p.persistent(), Phase.PENDING);
        epoch = next; // writes from now on belong to the next epoch
        tracking.newEpoch();
    }

    /** The epoch after the current one; refuses when the counter is used up (never in practice: 2^31 copies). */
    protected final int nextEpoch() throws VolumeException {
        if (epoch >= Integer.MAX_VALUE - 1) {
            throw new VolumeException(VolumeException.Code.FAILED, "volume " + volume + " has used all epochs");
        }
        return epoch + 1;
    }

    @Override
    public final ShadowCopyInfo completeShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        try {
            Shadow s = p.shadow()[0];
            if (s == null) {
                throw new IllegalStateException("shadow copy " + p.id() + " was not committed");
            }
            try {
                // Every write acknowledged before the instant is durable before the copy is. Non-persistent copies
                // too: change tracking counts from their epoch, and a backup read from one must not hold a write
                // that a crash could then take back from the live volume unnoticed.
                flush();
            } catch (IOException e) {
                abandon(s);
                throw e;
            }
            metaGate.lockShared();
            try {
                if (!registry.transition(s, Phase.PENDING, Phase.COMMITTING)) {
                    throw new VolumeException(VolumeException.Code.INSUFFICIENT_STORAGE, "shadow copy " + p.id()
                            + " of volume " + volume + " was released while being created: shadow storage is full");
                }
                try {
                    appendDurable(new JournalRecord.ShadowCreate(s.id, s.epoch, s.createdMillis, s.persistent));
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
        } finally {
            ended(p);
        }
    }

    @Override
    public final void abortShadowCopy(PendingShadowCopy pending) {
        Pending p = (Pending) pending;
        Shadow s = p.shadow()[0];
        if (s != null) {
            abandon(s);
        }
        ended(p);
    }

    /**
     * Drops a creation that never became durable. What was kept for it only is unneeded; if freeing it fails (a
     * failing shadow storage), it stays allocated until the next open, which drops it: worth a warning, no failure.
     */
    private void abandon(Shadow s) {
        if (registry.transition(s, Phase.PENDING, Phase.ABORTED)) {
            try {
                freeUnneeded();
            } catch (IOException e) {
                events.warning(volume, "the shadow storage kept for abandoned shadow copy " + s.id + " could not be "
                        + "freed (" + e.getMessage() + "); it is freed when the volume is next opened");
            }
        }
    }

    private void ended(Pending p) {
        if (p.ended().compareAndSet(false, true)) {
            creationEnded();
        }
    }

    @Override
    public final boolean deleteShadowCopy(ShadowCopyId id, String reason) throws IOException {
        checkOpen();
        Shadow s = registry.get(id.uuid());
        if (s == null || registry.phase(s) != Phase.COMMITTED) {
            return false;
        }
        boolean deleted;
        metaGate.lockShared();
        try {
            deleted = deleteDurably(s);
        } finally {
            metaGate.unlockShared();
        }
        afterLocksReleased(); // outside the gate: an inline checkpoint takes it exclusively
        return deleted;
    }

    /** Caller holds metaGate shared. The deletion is durable before the copy leaves the live set. */
    private boolean deleteDurably(Shadow s) throws IOException {
        if (!registry.transition(s, Phase.COMMITTED, Phase.DELETING)) {
            return false;
        }
        s.readers.writeLock().lock(); // wait for running reads of this copy
        try {
            appendDurable(new JournalRecord.ShadowDelete(s.id)); // before any write may skip keeping for it
        } catch (IOException e) {
            registry.transition(s, Phase.DELETING, Phase.COMMITTED);
            s.readers.writeLock().unlock();
            throw e;
        }
        registry.transition(s, Phase.DELETING, Phase.DELETED);
        s.readers.writeLock().unlock();
        freeUnneeded();
        copyGone();
        return true;
    }

    /**
     * Deletes (or, if still being created, aborts) {@code s} to make room, and reports it. Caller holds metaGate
     * shared and {@link #roomLock}.
     */
    protected final void release(Shadow s, String reason) throws IOException {
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
        if (deleteDurably(s)) {
            LOG.log(System.Logger.Level.WARNING, "volume {0}: shadow copy {1} {2}", volume, s.id, reason);
            events.shadowCopyReleased(volume, info, reason);
        }
    }

    /** At open: non-persistent copies do not survive a restart. */
    protected final void releaseNonPersistent() throws IOException {
        for (Shadow s : registry.inPhases(Phase.COMMITTED)) {
            if (!s.persistent) {
                ShadowCopyInfo info = info(s);
                if (deleteShadowCopy(new ShadowCopyId(s.id), "non-persistent")) {
                    events.shadowCopyReleased(volume, info,
                            "non-persistent shadow copy released when the volume was reopened");
                }
            }
        }
    }

    /** A revert's first step: the target, after deleting every copy taken after it (newest first). */
    protected final Shadow revertTarget(ShadowCopyId id) throws IOException {
        checkOpen();
        Shadow target = readable(id);
        for (Shadow later : registry.inPhases(Phase.COMMITTED).reversed()) {
            if (later.epoch > target.epoch) {
                deleteShadowCopy(new ShadowCopyId(later.id), "revert to " + id);
            }
        }
        return target;
    }

    // ---------------------------------------------------------------- shadow storage

    @Override
    public final ShadowStorageUsage shadowStorage() {
        long max = slots.maxBytes();
        return new ShadowStorageUsage(slots.usedBytes(), slots.allocatedBytes(), max == Long.MAX_VALUE ? -1 : max,
                files.diffPath().toString());
    }

    /**
     * What the copies the engine may not release on its own need: the slots of their versions, and (redirect-on-write)
     * live slots that cannot merge back because such a copy reads the base there.
     */
    @Override
    public final long shadowStorageKept() {
        int[] kept = releases.kept().stream().mapToInt(s -> s.epoch).sorted().toArray();
        if (kept.length == 0) {
            return 0;
        }
        long[] n = {0};
        Set<Long> pinnedLive = new HashSet<>();
        versions.forEach((id, c, from, to, location) -> {
            if (!Releases.anyIn(kept, from, to + 1)) {
                return;
            }
            if (location >= 0) {
                n[0]++; // one version per slot
            } else if (location == VersionIndex.BASE && liveSlotPinnedByBase(c) && pinnedLive.add(c)) {
                n[0]++;
            }
        });
        return n[0] * chunkSize;
    }

    /** Whether a kept version of chunk {@code c} in the base keeps its live version in a slot (redirect-on-write). */
    protected boolean liveSlotPinnedByBase(long c) {
        return false;
    }

    @Override
    public final void setShadowStorageLimit(long maxBytes) throws IOException {
        checkOpen();
        slots.setLimit(maxBytes);
        metaGate.lockShared(); // lock order: metaGate before roomLock, as on the write path
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
        shadowStorageLimitChanged();
        afterLocksReleased();
    }

    /** The maximum changed (copies may have gone to fit it). */
    protected void shadowStorageLimitChanged() {}

    // ---------------------------------------------------------------- checkpoints and lifecycle

    @Override
    public final void checkpoint() throws IOException {
        checkpoints.runNow(false);
    }

    protected final void checkOpen() throws VolumeException {
        if (closed) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + volume + " is closed");
        }
        checkHealthy();
    }

    /** Closes cleanly: background work stopped, every write durable, a checkpoint so the next open replays nothing. */
    @Override
    public final void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            stopBackgroundWork();
            checkpoints.shutdown();
            flush();
            checkpoints.runNow(true);
        } finally {
            closeFiles();
        }
    }

    /** Closes the files without a checkpoint, as a crash would leave them (a failed open, tests). */
    public final void closeAbruptly() throws IOException {
        closed = true;
        stopBackgroundWork();
        checkpoints.shutdown();
        closeFiles();
    }

    private void closeFiles() throws IOException {
        try {
            journal.close();
        } finally {
            try {
                slots.close();
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
