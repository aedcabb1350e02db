package dev.shadowcopy.volume;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A virtual disk whose every I/O passes through the service, with its shadow copies.
 *
 * <p>This class checks every request's range, holds I/O during the instant of a shadow copy
 * ({@link #holdWrites}), and serialises the operations that change the set of copies (create, revert).
 * The data itself is handled by its {@link VolumeEngine}.
 *
 * <p>Creating a copy is three steps so that copies of several volumes can share one instant:
 * {@link #prepareShadowCopy} (writes flowing), then with writes held on every volume of the set
 * {@link #commitShadowCopy} (no I/O), then {@link #completeShadowCopy} (writes flowing; durable on return).
 * {@link #createShadowCopy} does all three for one volume.
 *
 * <p>A volume is <em>incomplete</em> while an operation that rewrites it has not finished (a restore into it, a
 * revert's write-back of auto-recovered changes): {@link #markIncomplete} is durable before the first byte is
 * written and {@link #markComplete} only once the last one is, so a crash in between leaves the mark. The service
 * refuses to attach, export, copy or back up an incomplete volume; a revert at open finishes its own write-back.
 *
 * <p>Thread-safety: all methods may be called concurrently.
 */
public final class ManagedVolume implements BlockDevice {
    /** VSS cancels a hold of writes after 10 s. */
    public static final Duration DEFAULT_HOLD_TIMEOUT = Duration.ofSeconds(10);

    private final UUID id;
    private volatile VolumeConfig config;
    private final VolumeEngine engine;
    private final WriteGate gate = new WriteGate();
    /** Guards changes to the set of copies: creation steps 1-3 and revert. */
    private final ReentrantLock copySetLock = new ReentrantLock();
    private final Storage storage;
    /** Sealed auto-recovery overlays ({@code <copy>.data} + {@code <copy>.map}); null: none kept (tests). */
    private final Path recoveryDir;
    private final Map<ShadowCopyId, OverlayDevice> recovered = new ConcurrentHashMap<>();
    /** The volume's definition as published ({@code volume.desc}); replaced whole under this object's monitor. */
    private volatile VolumeDescriptor descriptor;
    /** Where the descriptor is published; null: not kept (tests). */
    private final Path descriptorFile;

    ManagedVolume(UUID id, VolumeConfig config, VolumeEngine engine) {
        this(new VolumeDescriptor(id, config, java.time.Instant.now()), engine, null, null, null);
    }

    ManagedVolume(VolumeDescriptor d, VolumeEngine engine, Storage storage, Path recoveryDir, Path descriptorFile) {
        this.id = d.id();
        this.config = d.config();
        this.descriptor = d;
        this.engine = engine;
        this.storage = storage;
        this.recoveryDir = recoveryDir;
        this.descriptorFile = descriptorFile;
    }

    // ---------------------------------------------------------------- interrupted operations

    /** Marks text of a revert whose write-back of auto-recovered changes is under way: finished at open. */
    private static final java.util.regex.Pattern REVERT_MARK = java.util.regex.Pattern.compile(
            "revert to shadow copy ([0-9a-f-]{36}) .*");

    /**
     * Why the content is not whole (an interrupted restore or revert) and what to do about it, or null when the
     * volume is complete.
     */
    public String incomplete() {
        return descriptor.incomplete();
    }

    /**
     * Marks the volume incomplete for {@code why} (one sentence naming the operation and the remedy). Durable on
     * return: call it before the operation writes its first byte.
     */
    public void markIncomplete(String why) throws IOException {
        publish(config, why);
    }

    /** Clears the mark. Durable on return: call it only once the operation's last byte is durable (flushed). */
    public void markComplete() throws IOException {
        if (descriptor.incomplete() != null) {
            publish(config, null);
        }
    }

    /** Publishes a changed definition (keeping the mark), then uses it. */
    void updateConfigDurably(VolumeConfig updated) throws IOException {
        publish(updated, descriptor.incomplete());
    }

    private synchronized void publish(VolumeConfig c, String incomplete) throws IOException {
        if (descriptorFile == null) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + name() + " keeps no definition file");
        }
        VolumeDescriptor d = descriptor.with(c, incomplete);
        storage.publish(descriptorFile, d.encode()); // tmp, fsync, rename, directory fsync
        descriptor = d;
        config = c;
    }

    /**
     * At open: finishes what a crash interrupted and can be finished here (a revert's write-back of the copy's
     * auto-recovered changes; the engine finished the revert itself while opening). A restore stays marked: only
     * its requester has the backup.
     */
    void resumeInterrupted() throws IOException {
        String mark = descriptor.incomplete();
        java.util.regex.Matcher m = mark == null ? null : REVERT_MARK.matcher(mark);
        if (m == null || !m.matches()) {
            return;
        }
        ShadowCopyId copy = ShadowCopyId.parse(m.group(1));
        OverlayDevice o = recovered.get(copy);
        if (o == null) {
            publish(config, "a revert to shadow copy " + copy + " was interrupted before the copy's auto-recovered "
                    + "changes were written back, and the copy is gone (released at the restart); the volume holds the "
                    + "copy without them. Revert to another copy, restore a backup into it, or delete it");
            return;
        }
        try {
            writeBack(o);
        } catch (IOException e) {
            // never fail the open for it: the volume stays marked (refused for use) and says why
            publish(config, "a revert to shadow copy " + copy + " was interrupted before the copy's auto-recovered "
                    + "changes were written back, and writing them back at open failed (" + e.getMessage() + "). "
                    + "Revert to the copy again, restore a backup into the volume, or delete it");
            return;
        }
        markComplete();
    }

    /** Writes an auto-recovered copy's changes onto the live volume and flushes them (idempotent). */
    private void writeBack(OverlayDevice o) throws IOException {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            o.writtenExtents((off, len, flags) -> {
                MemorySegment buf = a.allocate(len);
                o.read(off, buf);
                engine.write(off, buf);
                return true;
            });
        }
        engine.flush();
    }

    // ---------------------------------------------------------------- auto-recovery

    /**
     * Reopens the sealed overlays of copies that still exist and removes the rest (overlays of deleted or
     * released copies, and unsealed ones a crash interrupted). Called once at open.
     */
    void loadRecoveries() throws IOException {
        if (recoveryDir == null || !storage.isDirectory(recoveryDir)) {
            return;
        }
        java.util.Set<ShadowCopyId> live = new java.util.HashSet<>();
        engine.shadowCopies().forEach(c -> live.add(c.id()));
        for (String f : storage.list(recoveryDir)) {
            String stem = f.contains(".") ? f.substring(0, f.indexOf('.')) : f;
            ShadowCopyId id;
            try {
                id = ShadowCopyId.parse(stem);
            } catch (IllegalArgumentException e) {
                storage.delete(recoveryDir.resolve(f));
                continue;
            }
            Path map = recoveryDir.resolve(stem + ".map");
            if (f.endsWith(".data") && live.contains(id) && storage.exists(map)) {
                recovered.put(id, OverlayDevice.openSealed(new ShadowCopyDevice(this, info(id), true), storage,
                        recoveryDir.resolve(f), map, "auto-recovered changes of shadow copy " + id));
            } else if (!live.contains(id) || !storage.exists(map)) {
                storage.delete(recoveryDir.resolve(f));
            }
        }
    }

    private ShadowCopyInfo info(ShadowCopyId copy) throws VolumeException {
        for (ShadowCopyInfo i : engine.shadowCopies()) {
            if (i.id().equals(copy)) {
                return i;
            }
        }
        throw new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + copy + " on volume "
                + name());
    }

    /**
     * Auto-recovery, step 1: a writable overlay over the copy (the copy itself is never written). Until
     * {@link #sealRecovery}, readers of the copy see it as committed.
     */
    public OverlayDevice beginRecovery(ShadowCopyId copy) throws IOException {
        if (recoveryDir == null) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + name() + " keeps no auto-recovery");
        }
        if (recovered.containsKey(copy)) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "shadow copy " + copy + " was auto-recovered "
                    + "already");
        }
        storage.createDirectories(recoveryDir);
        Path data = recoveryDir.resolve(copy + ".data");
        storage.delete(data);
        storage.delete(recoveryDir.resolve(copy + ".map"));
        return OverlayDevice.create(new ShadowCopyDevice(this, info(copy), true), storage, data,
                "auto-recovery layer of shadow copy " + copy);
    }

    /** Auto-recovery, step 2: the overlay becomes part of the copy for good (durable on return). */
    public void sealRecovery(ShadowCopyId copy, OverlayDevice overlay) throws IOException {
        overlay.seal(recoveryDir.resolve(copy + ".map"));
        recovered.put(copy, overlay);
    }

    /** Drops an unsealed recovery overlay. */
    public void abortRecovery(OverlayDevice overlay) throws IOException {
        overlay.close();
    }

    /** The sealed overlay of an auto-recovered copy, or null. */
    OverlayDevice recoveryOverlay(ShadowCopyId copy) {
        return recovered.get(copy);
    }

    private void dropRecovery(ShadowCopyId copy) throws IOException {
        OverlayDevice o = recovered.remove(copy);
        if (o != null) {
            o.close();
            storage.delete(recoveryDir.resolve(copy + ".map")); // the map first: without it the data is garbage
            storage.delete(recoveryDir.resolve(copy + ".data"));
        }
    }

    /** Identity of this volume (stable across restarts; a re-created volume of the same name differs). */
    public UUID id() {
        return id;
    }

    @Override
    public String name() {
        return config.name();
    }

    public VolumeConfig config() {
        return config;
    }

    VolumeEngine engine() {
        return engine;
    }

    @Override
    public long size() {
        return engine.size();
    }

    @Override
    public boolean isReadOnly() {
        return false;
    }

    @Override
    public int preferredBlockSize() {
        return engine.chunkSize();
    }

    // ---------------------------------------------------------------- data path

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        gate.enter();
        try {
            engine.read(offset, dst);
        } finally {
            gate.exit();
        }
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, src.byteSize());
        gate.enter();
        try {
            engine.write(offset, src);
            if (fua) {
                engine.flush();
            }
        } finally {
            gate.exit();
        }
    }

    @Override
    public void flush() throws IOException {
        gate.enter();
        try {
            engine.flush();
        } finally {
            gate.exit();
        }
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        gate.enter();
        try {
            engine.trim(offset, length);
            if (fua) {
                engine.flush();
            }
        } finally {
            gate.exit();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        gate.enter();
        try {
            engine.writeZeroes(offset, length, mayDeallocate);
            if (fua) {
                engine.flush();
            }
        } finally {
            gate.exit();
        }
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        gate.enter();
        try {
            engine.mapAllocation(offset, length, visitor);
        } finally {
            gate.exit();
        }
    }

    // ---------------------------------------------------------------- shadow copies

    /** Committed shadow copies, oldest first. */
    public List<ShadowCopyInfo> shadowCopies() {
        return engine.shadowCopies();
    }

    /** The copy as a read-only device. */
    public ShadowCopyDevice shadowCopy(ShadowCopyId copy) throws VolumeException {
        for (ShadowCopyInfo info : engine.shadowCopies()) {
            if (info.id().equals(copy)) {
                return new ShadowCopyDevice(this, info, false);
            }
        }
        throw new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + copy + " on volume "
                + name());
    }

    /** Creates a shadow copy of this volume alone. */
    public ShadowCopyInfo createShadowCopy(ShadowCopyId copy, boolean persistent) throws IOException {
        VolumeEngine.PendingShadowCopy pending = prepareShadowCopy(copy, persistent);
        try {
            try (WriteHold hold = holdWrites(DEFAULT_HOLD_TIMEOUT)) {
                commitShadowCopy(pending, hold);
            }
            return completeShadowCopy(pending);
        } catch (IOException | RuntimeException e) {
            abortShadowCopy(pending);
            throw e;
        }
    }

    /**
     * Step 1: checks limits and flushes. Until {@link #completeShadowCopy} or {@link #abortShadowCopy}, other
     * creations and reverts of this volume wait.
     */
    public VolumeEngine.PendingShadowCopy prepareShadowCopy(ShadowCopyId copy, boolean persistent)
            throws IOException {
        copySetLock.lock();
        try {
            return engine.prepareShadowCopy(copy, persistent);
        } catch (IOException | RuntimeException e) {
            copySetLock.unlock();
            throw e;
        }
    }

    /** Step 2, with this volume's writes held: fixes the instant. */
    public void commitShadowCopy(VolumeEngine.PendingShadowCopy pending, WriteHold hold) throws IOException {
        if (hold.volume() != this || !gate.isHeldByCurrentThread()) {
            throw new IllegalStateException("commit of " + pending.id() + " without holding writes on " + name());
        }
        engine.commitShadowCopy(pending);
    }

    /** Step 3: makes the copy durable and visible. */
    public ShadowCopyInfo completeShadowCopy(VolumeEngine.PendingShadowCopy pending) throws IOException {
        try {
            return engine.completeShadowCopy(pending);
        } finally {
            unlockCopySet();
        }
    }

    /** Abandons a creation begun with {@link #prepareShadowCopy}; safe to call after a failed completion. */
    public void abortShadowCopy(VolumeEngine.PendingShadowCopy pending) {
        engine.abortShadowCopy(pending);
        unlockCopySet();
    }

    private void unlockCopySet() {
        if (copySetLock.isHeldByCurrentThread()) {
            copySetLock.unlock();
        }
    }

    /**
     * Holds every I/O of this volume until the returned hold is closed. Waits at most {@code timeout} for the
     * I/O in flight to drain.
     *
     * @throws VolumeException with {@code HOLD_WRITES_TIMEOUT} if it did not drain in time
     */
    public WriteHold holdWrites(Duration timeout) throws IOException {
        try {
            if (!gate.hold(timeout)) {
                throw new VolumeException(VolumeException.Code.HOLD_WRITES_TIMEOUT, "writes to volume " + name()
                        + " could not be held within " + timeout.toMillis() + " ms (I/O in flight did not finish); "
                        + "retry when the volume is less busy");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VolumeException(VolumeException.Code.HOLD_WRITES_TIMEOUT, "interrupted while holding writes "
                    + "to volume " + name());
        }
        return new WriteHold(this);
    }

    void releaseHold() {
        gate.release();
    }

    /** Deletes a shadow copy (and its auto-recovery changes); durable on return. */
    public boolean deleteShadowCopy(ShadowCopyId copy) throws IOException {
        boolean deleted = engine.deleteShadowCopy(copy, "deleted on request");
        dropRecovery(copy);
        return deleted;
    }

    /**
     * Makes the live volume exactly the copy's content; copies taken after it are deleted first. All I/O to
     * the volume waits until the revert is done (unmount file systems on it first). Durable on return; a
     * revert interrupted by a crash is finished when the volume is opened again.
     */
    public void revert(ShadowCopyId copy) throws IOException {
        copySetLock.lock();
        try (WriteHold hold = holdWrites(Duration.ofDays(1))) {
            OverlayDevice o = recovered.get(copy);
            if (o != null && descriptorFile != null) {
                // durable before the revert: a crash before the write-back below is finished at the next open
                markIncomplete("revert to shadow copy " + copy + " of volume " + name() + " was interrupted before "
                        + "the copy's auto-recovered changes were written back; it is finished when the volume is "
                        + "opened again");
            }
            engine.revert(copy);
            if (o != null) {
                // The copy as applications saw it includes its auto-recovery changes: put them on the volume too.
                writeBack(o);
            }
            for (ShadowCopyId gone : List.copyOf(recovered.keySet())) {
                if (engine.shadowCopies().stream().noneMatch(c -> c.id().equals(gone))) {
                    dropRecovery(gone);
                }
            }
            if (descriptorFile != null) {
                markComplete(); // the volume is exactly the copy now (which also ends an interrupted restore)
            }
        } finally {
            copySetLock.unlock();
        }
    }

    public VolumeEngine.ShadowStorageUsage shadowStorage() throws IOException {
        return engine.shadowStorage();
    }

    /**
     * Bytes of shadow storage the copies the engine may not release on its own (protected copies) need now: the
     * least the maximum may be lowered to.
     */
    public long shadowStorageKept() throws IOException {
        return engine.shadowStorageKept();
    }

    void setShadowStorageLimit(long maxBytes) throws IOException {
        engine.setShadowStorageLimit(maxBytes);
    }

    /**
     * Reports which chunks of the live volume changed since the copy with sequence {@code sinceSequence} was
     * taken (flag 1 = changed), even if that copy was deleted since.
     */
    public void mapChangesSince(int sinceSequence, long offset, long length, ExtentVisitor visitor)
            throws IOException {
        BlockDevice.checkRange(this, offset, length);
        engine.mapChanges(sinceSequence, null, offset, length, visitor);
    }

    /** Change tracking covers copies with a sequence at or above this. */
    public int trackingSince() {
        return engine.trackingSince();
    }

    void close() throws IOException {
        try (WriteHold hold = holdWrites(Duration.ofMinutes(5))) {
            for (OverlayDevice o : recovered.values()) {
                o.close();
            }
            engine.close();
        }
    }

    @Override
    public String toString() {
        return "volume " + name();
    }
}
