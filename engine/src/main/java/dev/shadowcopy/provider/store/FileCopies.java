package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The kernel of the providers whose copies are files of their own (reflink clones, split mirrors): the live data path
 * is the plain origin file, and each copy is {@code <dir>/<id>.img}, independent of any metadata but the list of
 * copies ({@link CopyList}). A subclass says how a copy's file is made at the instant ({@link #makeCopy}) and how the
 * volume gets a copy's content back ({@link #restore}).
 *
 * <h2>Durability</h2>
 * The instant (writes held) makes {@code <id>.img.tmp}; completion fsyncs it, renames it to {@code <id>.img}, fsyncs
 * the directory and only then publishes the list (tmp + fsync + rename + directory fsync): the copy exists from there.
 * Deletion publishes the list without the copy first, then deletes its file. A revert publishes
 * {@code meta/<list>.revert} (the copy's id) before the volume changes and deletes it once the volume is the copy,
 * durably; restoring is idempotent, so a revert a crash interrupted is finished at open (as copy-on-write's
 * {@code REVERT_BEGIN} is), before anything else. At open, files the list does not name (a creation or deletion a
 * crash interrupted) are deleted, listed copies whose file vanished are dropped with a warning, and non-persistent
 * copies are released.
 *
 * <h2>Not done</h2>
 * Change tracking (incremental backups of such a volume read everything and store only what differs) and a shadow
 * storage maximum (the file system's free space is the limit).
 *
 * <p>Locking: the list of copies changes under this object's monitor (complete, delete, revert); reads of a copy take
 * no lock but the open-handle map's. Handles of a copy are closed only by its deletion, which ManagedVolume runs after
 * the copy's devices were closed.
 */
public abstract class FileCopies implements VolumeEngine {
    private static final System.Logger LOG = System.getLogger(FileCopies.class.getName());
    protected final String volume;
    protected final Storage storage;
    protected final StorageFile origin;
    protected final Path dir;
    protected final long size;
    protected final VolumeEvents events;
    private final int chunkSize;
    private final int maxCopies;
    private final CopyList list;
    /** Present (holding a copy's id) while a revert to that copy may have changed the volume but not finished. */
    private final Path revertMark;
    private final List<ShadowCopyInfo> copies = new CopyOnWriteArrayList<>();
    private final Map<ShadowCopyId, StorageFile> open = new ConcurrentHashMap<>();
    private int nextSequence;

    /**
     * @param dir       where the copies' files are
     * @param listMagic the copy list's magic ({@code Formats.*_COPY_LIST_MAGIC}), in {@code meta/<listName>}
     */
    protected FileCopies(EngineFiles f, Path dir, int listMagic, String listName, EngineOptions options,
                         VolumeEvents events) {
        this.volume = f.volumeName();
        this.storage = f.storage();
        this.origin = f.origin();
        this.dir = dir;
        this.size = f.size();
        this.events = events;
        this.chunkSize = f.chunkSize();
        this.maxCopies = options.maxShadowCopies();
        this.list = new CopyList(f.storage(), f.metaDir().resolve(listName), listMagic, f.volumeName());
        this.revertMark = f.metaDir().resolve(listName + ".revert");
    }

    // ---------------------------------------------------------------- what each provider does its own way

    /** Writes held: makes {@code tmp} the copy of the volume as it is now. */
    protected abstract void makeCopy(Path tmp) throws IOException;

    /**
     * Writes held: makes the live volume the content of {@code copy}, durably. Idempotent: a revert a crash cut short
     * is run again at open (before {@link #recover} returns, possibly before the provider's own files are set up).
     */
    protected abstract void restore(Path copy) throws IOException;

    /** A file of {@link #dir} that is the provider's own, not a copy (kept at open). */
    protected boolean ownFile(String name) {
        return false;
    }

    /** Refuses a creation the provider cannot make now (before anything is flushed). */
    protected void checkCanCopy() throws IOException {}

    /** The instant is past: a creation is completing, or was abandoned (may be called twice for one creation). */
    protected void creationEnded() {}

    /** Bytes of shadow storage that are the provider's own beyond the copies (a mirror). */
    protected long ownBytes() {
        return 0;
    }

    /** Stops background work and closes the provider's own files, at close. */
    protected void closeOwn() throws IOException {}

    // ---------------------------------------------------------------- open

    /** Reads the list, drops what a crash left half-done and releases non-persistent copies. */
    protected final void recover() throws IOException {
        List<ShadowCopyInfo> listed = list.read();
        if (storage.exists(revertMark)) {
            finishRevert(listed);
        }
        boolean changed = false;
        for (ShadowCopyInfo c : listed) {
            nextSequence = Math.max(nextSequence, c.sequence() + 1);
            if (!storage.exists(fileOf(c.id()))) {
                events.warning(volume, "shadow copy " + c.id() + " lost its file " + fileOf(c.id()) + "; it is dropped");
                changed = true;
            } else if (!c.persistent()) {
                storage.delete(fileOf(c.id()));
                events.shadowCopyReleased(volume, c, "non-persistent shadow copies do not survive a restart");
                changed = true;
            } else {
                copies.add(c);
            }
        }
        for (String n : storage.list(dir)) {
            if (!ownFile(n) && copies.stream().noneMatch(c -> n.equals(c.id() + ".img"))) {
                storage.delete(dir.resolve(n)); // a creation or deletion a crash interrupted
            }
        }
        if (changed) {
            list.publish(List.copyOf(copies));
        }
    }

    private void finishRevert(List<ShadowCopyInfo> listed) throws IOException {
        ShadowCopyId id = ShadowCopyId.parse(new String(storage.readAll(revertMark), StandardCharsets.US_ASCII).strip());
        if (listed.stream().anyMatch(c -> c.id().equals(id)) && storage.exists(fileOf(id))) {
            LOG.log(System.Logger.Level.INFO, "volume {0}: finishing the revert to {1} that a crash interrupted",
                    volume, id);
            restore(fileOf(id));
        } else {
            events.warning(volume, "a revert to shadow copy " + id + " was interrupted and the copy is gone: the "
                    + "volume may hold part of it; revert to another copy or restore a backup into the volume");
        }
        storage.delete(revertMark);
    }

    protected final Path fileOf(ShadowCopyId id) {
        return dir.resolve(id + ".img");
    }

    // ---------------------------------------------------------------- live data: the plain file

    @Override
    public final long size() {
        return size;
    }

    @Override
    public final int chunkSize() {
        return chunkSize;
    }

    @Override
    public final void read(long offset, MemorySegment dst) throws IOException {
        origin.read(offset, dst);
    }

    @Override
    public final void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        FileExtents.map(origin, offset, length, visitor);
    }

    // ---------------------------------------------------------------- copies

    private record Pending(ShadowCopyId id, boolean persistent, Path tmp, Instant[] instant) implements
            PendingShadowCopy {}

    @Override
    public final List<ShadowCopyInfo> shadowCopies() {
        return List.copyOf(copies);
    }

    @Override
    public final PendingShadowCopy prepareShadowCopy(ShadowCopyId id, boolean persistent) throws IOException {
        if (copies.size() >= maxCopies) {
            throw new VolumeException(VolumeException.Code.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "volume " + volume
                    + " already has " + copies.size() + " shadow copies, the maximum is " + maxCopies
                    + "; delete some (delete shadows --for " + volume + " --oldest) and retry");
        }
        if (find(id) != null) {
            throw new VolumeException(VolumeException.Code.OBJECT_ALREADY_EXISTS, "shadow copy " + id
                    + " already exists on volume " + volume);
        }
        checkCanCopy();
        flush(); // a creation flushes the volume (every layout promises it); the instant then has little to write
        Path tmp = dir.resolve(id + ".img.tmp");
        storage.delete(tmp);
        return new Pending(id, persistent, tmp, new Instant[1]);
    }

    @Override
    public final void commitShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        makeCopy(p.tmp());
        p.instant()[0] = Instant.now();
    }

    @Override
    public final synchronized ShadowCopyInfo completeShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        creationEnded();
        try (StorageFile copy = storage.open(p.tmp(), OpenMode.READ_WRITE)) {
            copy.sync();
        }
        storage.rename(p.tmp(), fileOf(p.id()));
        storage.syncDirectory(dir);
        ShadowCopyInfo info = new ShadowCopyInfo(p.id(), volume, nextSequence++, p.instant()[0], p.persistent(), size);
        copies.add(info);
        try {
            list.publish(List.copyOf(copies)); // durable from here
        } catch (IOException | RuntimeException e) {
            copies.remove(info);
            storage.delete(fileOf(p.id()));
            throw e;
        }
        return info;
    }

    @Override
    public final void abortShadowCopy(PendingShadowCopy pending) {
        Pending p = (Pending) pending;
        try {
            storage.delete(p.tmp());
            if (find(p.id()) == null) {
                storage.delete(fileOf(p.id()));
            }
        } catch (IOException e) {
            events.warning(volume, "the file of abandoned shadow copy " + p.id() + " could not be removed ("
                    + e.getMessage() + "); it is removed when the volume is next opened");
        }
        creationEnded();
    }

    @Override
    public final synchronized boolean deleteShadowCopy(ShadowCopyId id, String reason) throws IOException {
        ShadowCopyInfo c = find(id);
        if (c == null) {
            return false;
        }
        copies.remove(c);
        list.publish(List.copyOf(copies)); // gone from the list first: a crash now leaves an unlisted file, deleted at open
        StorageFile f = open.remove(id);
        if (f != null) {
            f.close();
        }
        storage.delete(fileOf(id));
        return true;
    }

    @Override
    public final synchronized void revert(ShadowCopyId id) throws IOException {
        ShadowCopyInfo c = find(id);
        if (c == null) {
            throw notFound(id);
        }
        for (ShadowCopyInfo later : List.copyOf(copies)) {
            if (later.sequence() > c.sequence()) {
                deleteShadowCopy(later.id(), "deleted by a revert to an earlier copy");
            }
        }
        // durable before the volume changes, so that a crash in between is finished at open
        storage.publish(revertMark, id.toString().getBytes(StandardCharsets.US_ASCII));
        restore(fileOf(id));
        storage.delete(revertMark); // durable on return: the volume is the copy
    }

    @Override
    public final void readShadowCopy(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        copyFile(id).read(offset, dst);
    }

    @Override
    public final void mapShadowAllocation(ShadowCopyId id, long offset, long length,
                                          BlockDevice.ExtentVisitor visitor) throws IOException {
        FileExtents.map(copyFile(id), offset, length, visitor);
    }

    /** The copy's file, opened once and kept open until the copy is deleted. */
    private StorageFile copyFile(ShadowCopyId id) throws IOException {
        StorageFile f = open.get(id);
        if (f != null) {
            return f;
        }
        synchronized (this) {
            if (find(id) == null) {
                throw notFound(id);
            }
            StorageFile n = open.get(id);
            if (n == null) {
                n = storage.open(fileOf(id), OpenMode.READ);
                open.put(id, n);
            }
            return n;
        }
    }

    private ShadowCopyInfo find(ShadowCopyId id) {
        for (ShadowCopyInfo c : copies) {
            if (c.id().equals(id)) {
                return c;
            }
        }
        return null;
    }

    private VolumeException notFound(ShadowCopyId id) {
        return new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + id + " on volume "
                + volume + " (list shadows --for " + volume + " shows the existing ones)");
    }

    // ---------------------------------------------------------------- shadow storage, tracking, lifecycle

    /** The copies' allocated size (extents they share with the volume or each other included). */
    @Override
    public final ShadowStorageUsage shadowStorage() throws IOException {
        long used = 0;
        for (ShadowCopyInfo c : copies) {
            used += copyFile(c.id()).size();
        }
        return new ShadowStorageUsage(used, used + ownBytes(), -1, dir.toString());
    }

    @Override
    public final void setShadowStorageLimit(long maxBytes) throws IOException {
        if (maxBytes != Long.MAX_VALUE) {
            throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, "volume " + volume + " keeps each copy as "
                    + "a file of its own; the file system's free space is their limit (no shadow storage maximum)");
        }
    }

    @Override
    public final void mapChanges(int sinceSequence, ShadowCopyId asOf, long offset, long length,
                                 BlockDevice.ExtentVisitor visitor) throws IOException {
        throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + volume + " keeps each copy as a file "
                + "of its own and no change tracking; read the whole volume");
    }

    @Override
    public final int trackingSince() {
        return Integer.MAX_VALUE;
    }

    /** The list of copies is the only metadata, published on every change. */
    @Override
    public final void checkpoint() {}

    /** Closes cleanly: every write durable, every file closed. */
    @Override
    public final void close() throws IOException {
        try {
            closeOwn();
            origin.sync();
        } finally {
            try {
                for (StorageFile f : open.values()) {
                    f.close();
                }
                open.clear();
            } finally {
                origin.close();
            }
        }
    }
}
