package dev.shadowcopy.provider.reflink;

import dev.shadowcopy.platform.CloneUnsupportedException;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.CopyList;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The reflink provider: a volume backed by a file on a file system that shares extents (XFS with reflink,
 * btrfs), whose shadow copies are {@code FICLONE} clones of that file. A copy costs no data copy and is
 * independent of the engine's metadata: the file system keeps the old extents as long as the clone exists, and
 * copy-on-write happens in the file system, not here. The live data path is the plain file.
 *
 * <p>Creation: prepare flushes the file (so the clone at the instant has little to write back); the commit
 * (writes held) clones it into {@code <id>.img.tmp} next to the backing file; completion fsyncs the clone,
 * renames it to {@code <id>.img}, fsyncs the directory, and then publishes the list of copies (durable). At open,
 * clone files that the list does not name (a creation interrupted by a crash) are deleted, listed copies whose
 * file is gone are dropped with a warning, and non-persistent copies are released.
 *
 * <p>What it does not do: change tracking (incremental backups of such a volume read everything and store only
 * what differs: {@link #mapChanges} says so), and a shadow storage maximum (the file system's free space is the
 * limit; {@link #shadowStorage} reports the clones' allocated size, shared extents included).
 */
public final class ReflinkEngine implements VolumeEngine {

    private final String volume;
    private final Storage storage;
    private final StorageFile origin;
    private final Path backing;
    private final CopyList list;
    private final Path copiesDir;
    private final long size;
    private final int chunkSize;
    private final int maxCopies;
    private final VolumeEvents events;
    private final List<ShadowCopyInfo> copies = new CopyOnWriteArrayList<>();
    private final Map<ShadowCopyId, StorageFile> open = new ConcurrentHashMap<>();
    private int nextSequence;

    private ReflinkEngine(EngineFiles f, Path copiesDir, int maxCopies, VolumeEvents events) {
        this.volume = f.volumeName();
        this.storage = f.storage();
        this.origin = f.origin();
        this.backing = f.originPath().toAbsolutePath();
        this.list = new CopyList(f.storage(), f.metaDir().resolve("reflink-copies"), Formats.REFLINK_COPY_LIST_MAGIC,
                f.volumeName());
        this.copiesDir = copiesDir;
        this.size = f.size();
        this.chunkSize = f.chunkSize();
        this.maxCopies = maxCopies;
        this.events = events;
    }

    /** Opens (or starts) a reflink volume; fails clearly when the backing cannot be cloned. */
    public static ReflinkEngine open(EngineFiles f, EngineOptions options, VolumeEvents events) throws IOException {
        int maxCopies = options.maxShadowCopies();
        if (f.origin().isBlockDevice()) {
            throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, "volume " + f.volumeName() + ": the "
                    + "reflink layout needs a regular backing file on XFS (reflink=1) or btrfs, not a block device");
        }
        Path backing = f.originPath().toAbsolutePath();
        Path dir = backing.resolveSibling("." + backing.getFileName() + ".copies");
        f.storage().createDirectories(dir);
        probe(f.storage(), backing, dir, f.volumeName());
        ReflinkEngine e = new ReflinkEngine(f, dir, maxCopies, events);
        e.recover();
        return e;
    }

    /** Clones the backing once into a scratch file: the file system must support FICLONE. */
    private static void probe(Storage storage, Path backing, Path dir, String volume) throws IOException {
        Path p = dir.resolve("probe.tmp");
        storage.delete(p);
        try {
            storage.clone(backing, p);
        } catch (CloneUnsupportedException e) {
            throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, "volume " + volume + ": the file system "
                    + "of " + backing + " cannot clone files (" + e.getMessage() + "); the reflink layout needs "
                    + "XFS with reflink=1 or btrfs", e);
        } finally {
            storage.delete(p);
        }
    }

    private Path fileOf(ShadowCopyId id) {
        return copiesDir.resolve(id + ".img");
    }

    private void recover() throws IOException {
        List<ShadowCopyInfo> listed = list.read();
        boolean changed = false;
        for (ShadowCopyInfo c : listed) {
            if (!storage.exists(fileOf(c.id()))) {
                events.warning(volume, "shadow copy " + c.id() + " lost its clone file " + fileOf(c.id())
                        + "; it is dropped");
                changed = true;
            } else if (!c.persistent()) {
                storage.delete(fileOf(c.id()));
                events.shadowCopyReleased(volume, c, "non-persistent shadow copies do not survive a restart");
                changed = true;
            } else {
                copies.add(c);
            }
            nextSequence = Math.max(nextSequence, c.sequence() + 1);
        }
        for (String n : storage.list(copiesDir)) {
            if (copies.stream().noneMatch(c -> n.equals(c.id() + ".img"))) {
                storage.delete(copiesDir.resolve(n)); // a clone whose creation a crash interrupted
            }
        }
        if (changed) {
            publish();
        }
    }

    // ---------------------------------------------------------------- data path: the plain file

    @Override
    public long size() {
        return size;
    }

    @Override
    public int chunkSize() {
        return chunkSize;
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        origin.read(offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src) throws IOException {
        origin.write(offset, src);
    }

    @Override
    public void flush() throws IOException {
        origin.sync();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        origin.punchHole(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate) throws IOException {
        if (mayDeallocate) {
            origin.punchHole(offset, length);
        } else {
            origin.zeroRange(offset, length);
        }
    }

    @Override
    public void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        FileExtents.map(origin, offset, length, visitor);
    }


    // ---------------------------------------------------------------- shadow copies: clones

    private record Pending(ShadowCopyId id, boolean persistent, Path tmp, Instant[] instant) implements
            PendingShadowCopy {}

    @Override
    public List<ShadowCopyInfo> shadowCopies() {
        return List.copyOf(copies);
    }

    @Override
    public PendingShadowCopy prepareShadowCopy(ShadowCopyId id, boolean persistent) throws IOException {
        if (copies.size() >= maxCopies) {
            throw new VolumeException(VolumeException.Code.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "volume " + volume
                    + " has " + copies.size() + " shadow copies, its maximum");
        }
        origin.sync(); // the clone at the instant then has (almost) nothing dirty to write back first
        Path tmp = copiesDir.resolve(id + ".img.tmp");
        storage.delete(tmp);
        return new Pending(id, persistent, tmp, new Instant[1]);
    }

    @Override
    public void commitShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        storage.clone(backing, p.tmp()); // the instant: writes are held, the clone shares every extent right now
        p.instant()[0] = Instant.now();
    }

    @Override
    public synchronized ShadowCopyInfo completeShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        try (StorageFile clone = storage.open(p.tmp(), OpenMode.READ_WRITE)) {
            clone.sync();
        }
        storage.rename(p.tmp(), fileOf(p.id()));
        storage.syncDirectory(copiesDir);
        ShadowCopyInfo info = new ShadowCopyInfo(p.id(), volume, nextSequence++, p.instant()[0], p.persistent(), size);
        copies.add(info);
        try {
            publish(); // durable from here
        } catch (IOException | RuntimeException e) {
            copies.remove(info);
            storage.delete(fileOf(p.id()));
            throw e;
        }
        return info;
    }

    @Override
    public void abortShadowCopy(PendingShadowCopy pending) {
        Pending p = (Pending) pending;
        try {
            storage.delete(p.tmp());
            if (copies.stream().noneMatch(c -> c.id().equals(p.id()))) {
                storage.delete(fileOf(p.id()));
            }
        } catch (IOException e) {
            events.warning(volume, "cannot remove the clone of an abandoned shadow copy: " + e.getMessage());
        }
    }

    @Override
    public synchronized boolean deleteShadowCopy(ShadowCopyId id, String reason) throws IOException {
        ShadowCopyInfo c = find(id);
        if (c == null) {
            return false;
        }
        copies.remove(c);
        publish(); // gone from the list first: a crash now leaves an unlisted clone, deleted at open
        StorageFile f = open.remove(id);
        if (f != null) {
            f.close();
        }
        storage.delete(fileOf(id));
        return true;
    }

    @Override
    public synchronized void revert(ShadowCopyId id) throws IOException {
        ShadowCopyInfo c = find(id);
        if (c == null) {
            throw new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + id + " on volume "
                    + volume);
        }
        for (ShadowCopyInfo later : List.copyOf(copies)) {
            if (later.sequence() > c.sequence()) {
                deleteShadowCopy(later.id(), "deleted by a revert to an earlier copy");
            }
        }
        storage.clone(fileOf(id), backing); // the whole backing now shares the copy's extents: instant
        origin.sync();
    }

    @Override
    public void readShadowCopy(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        clone(id).read(offset, dst);
    }

    @Override
    public void mapShadowAllocation(ShadowCopyId id, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        FileExtents.map(clone(id), offset, length, visitor);
    }

    private StorageFile clone(ShadowCopyId id) throws IOException {
        StorageFile f = open.get(id);
        if (f != null) {
            return f;
        }
        synchronized (this) {
            if (find(id) == null) {
                throw new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no shadow copy " + id + " on volume "
                        + volume);
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

    @Override
    public ShadowStorageUsage shadowStorage() throws IOException {
        long used = 0;
        for (ShadowCopyInfo c : copies) {
            used += clone(c.id()).size();
        }
        return new ShadowStorageUsage(used, used, -1, copiesDir.toString());
    }

    @Override
    public void setShadowStorageLimit(long maxBytes) throws IOException {
        if (maxBytes != Long.MAX_VALUE) {
            throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, "volume " + volume + " keeps its copies "
                    + "as reflink clones; the file system's free space is their limit (no shadow storage maximum)");
        }
    }

    @Override
    public void mapChanges(int sinceSequence, ShadowCopyId asOf, long offset, long length,
                           BlockDevice.ExtentVisitor visitor) throws IOException {
        throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + volume + " uses reflink clones and "
                + "keeps no change tracking; read the whole volume");
    }

    @Override
    public int trackingSince() {
        return Integer.MAX_VALUE;
    }

    @Override
    public void checkpoint() {
        // the list of copies is the only metadata, published on every change
    }

    @Override
    public void close() throws IOException {
        origin.sync(); // a clean close leaves every write durable
        for (StorageFile f : open.values()) {
            f.close();
        }
        open.clear();
        origin.close();
    }

    private void publish() throws IOException {
        list.publish(List.copyOf(copies));
    }
}
