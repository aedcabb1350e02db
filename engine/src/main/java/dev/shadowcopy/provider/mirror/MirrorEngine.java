package dev.shadowcopy.provider.mirror;

import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
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
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The full-copy provider (VSS's split mirror, attribute "Plex"): a mirror file is kept in step with the volume;
 * a shadow copy splits it off. The commit (writes held) renames the mirror to the copy's file — O(1) — and from
 * then on the copy is a complete, independent image: it survives the loss of the volume's backing and of this
 * engine's metadata. The new mirror is a FICLONE clone of the split where the file system shares extents (in step
 * at once: nothing changed since the split), else it resynchronises in the background from the volume, region by
 * region (holes skipped); until it is complete, another split is refused (retryable, {@code RESYNC_IN_PROGRESS}).
 *
 * <p>Write path: the volume, then the mirror if the region is already resynchronised (under the region's lock,
 * which the resync also takes, so a region is either copied after the write or written by it). Flush syncs both.
 *
 * <p>Durability: at completion the split file is fsync'd, renamed from its temporary name, the directory
 * fsync'd, and then the list of copies is published. After a crash the mirror's content is not trusted (the two
 * writes of a request are not atomic together): it is resynchronised from scratch at open. Split files that the
 * list does not name are deleted at open.
 *
 * <p>No change tracking (incremental backups of a mirror volume read everything) and no shadow storage maximum:
 * every copy is a full image, bounded by the file system's free space.
 */
public final class MirrorEngine implements VolumeEngine {
    private static final int REGION = 1 << 20;
    private static final int STRIPES = 256;
    /**
     * Resync rate limit in MB/s (0: as fast as the disks go), like md's {@code speed_limit_max}: a resync competes
     * with the volume's own I/O. System property {@code shadowcopy.mirror.resync-mb-per-s}, read at open.
     */
    private final long resyncLimit = Long.getLong("shadowcopy.mirror.resync-mb-per-s", 0);

    private final String volume;
    private final Storage storage;
    private final StorageFile origin;
    private final Path dir;
    private final CopyList list;
    private final long size;
    private final int chunkSize;
    private final int maxCopies;
    private final VolumeEvents events;
    private final List<ShadowCopyInfo> copies = new CopyOnWriteArrayList<>();
    private final Map<ShadowCopyId, StorageFile> open = new ConcurrentHashMap<>();
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    private volatile StorageFile mirror;
    /** Regions below this are in step with the volume; the resync advances it. */
    private volatile long synced;
    private volatile Thread resync;
    /** Which resync may run: a resync thread stops as soon as this is not its own (one at a time, ever). */
    private final AtomicInteger generation = new AtomicInteger();
    private volatile boolean closed;
    private volatile IOException resyncFailure;
    private int nextSequence;

    private MirrorEngine(EngineFiles f, StorageFile origin, Path dir, int maxCopies, VolumeEvents events) {
        this.volume = f.volumeName();
        this.storage = f.storage();
        this.origin = origin;
        this.dir = dir;
        this.list = new CopyList(f.storage(), f.metaDir().resolve("mirror-copies"), Formats.MIRROR_COPY_LIST_MAGIC,
                f.volumeName());
        this.size = f.size();
        this.chunkSize = f.chunkSize();
        this.maxCopies = maxCopies;
        this.events = events;
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    public static MirrorEngine open(EngineFiles f, EngineOptions options, VolumeEvents events) throws IOException {
        int maxCopies = options.maxShadowCopies();
        Path dir = f.metaDir().resolve("mirror");
        f.storage().createDirectories(dir);
        MirrorEngine e = new MirrorEngine(f, f.origin(), dir, maxCopies, events);
        e.recover();
        e.startResync();
        return e;
    }

    private Path fileOf(ShadowCopyId id) {
        return dir.resolve(id + ".img");
    }

    private void recover() throws IOException {
        List<ShadowCopyInfo> listed = list.read();
        boolean changed = false;
        for (ShadowCopyInfo c : listed) {
            nextSequence = Math.max(nextSequence, c.sequence() + 1);
            if (!storage.exists(fileOf(c.id()))) {
                events.warning(volume, "split mirror " + c.id() + " lost its file " + fileOf(c.id()) + "; dropped");
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
            if (!n.equals("mirror.img") && copies.stream().noneMatch(c -> n.equals(c.id() + ".img"))) {
                storage.delete(dir.resolve(n));
            }
        }
        if (changed) {
            publish();
        }
        // The mirror is not trusted after a restart: start it over (see the class comment).
        storage.delete(dir.resolve("mirror.img"));
        mirror = freshMirror();
    }

    private StorageFile freshMirror() throws IOException {
        StorageFile m = storage.open(dir.resolve("mirror.img"), OpenMode.CREATE_NEW);
        m.truncate(size);
        synced = 0;
        return m;
    }

    /** Starts the resync of the current mirror from {@link #synced}, after stopping any earlier one. */
    private synchronized void startResync() {
        stopResync();
        resyncFailure = null;
        int g = generation.get();
        StorageFile m = mirror;
        resync = Thread.ofPlatform().daemon().name("mirror-resync-" + volume).start(() -> resyncLoop(g, m));
    }

    /** Stops the running resync (if any) and waits for it: afterwards no thread touches the mirror but writes. */
    private void stopResync() {
        generation.incrementAndGet();
        Thread t = resync;
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void resyncLoop(int g, StorageFile m) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(REGION, 4096);
            long start = System.nanoTime();
            long copied = 0;
            while (!closed && generation.get() == g && synced < size) {
                long off = synced;
                int n = (int) Math.min(REGION, size - off);
                ReentrantLock l = stripes[(int) ((off / REGION) % STRIPES)];
                l.lock();
                try {
                    if (generation.get() != g) {
                        return;
                    }
                    long data = origin.nextData(off);
                    if (data >= 0 && data < off + n) { // holes stay holes in the sparse mirror
                        MemorySegment s = buf.asSlice(0, n);
                        origin.read(off, s);
                        m.write(off, s);
                    }
                    synced = off + n;
                } finally {
                    l.unlock();
                }
                copied += n;
                if (resyncLimit > 0) {
                    long due = start + copied * 1000L / resyncLimit; // ns at resyncLimit MB/s (1 MB = 1e6 bytes)
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        try {
                            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }
            }
        } catch (IOException e) {
            if (generation.get() == g) {
                resyncFailure = e;
                events.warning(volume, "mirror resynchronisation failed: " + e.getMessage());
            }
        }
    }

    // ---------------------------------------------------------------- data path

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
        change(offset, src.byteSize(), (f, off, len) -> f.write(off, src.asSlice(off - offset, len)));
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        change(offset, length, (f, off, len) -> f.punchHole(off, len));
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate) throws IOException {
        change(offset, length, (f, off, len) -> {
            if (mayDeallocate) {
                f.punchHole(off, len);
            } else {
                f.zeroRange(off, len);
            }
        });
    }

    private interface Op {
        void apply(StorageFile f, long offset, long length) throws IOException;
    }

    /** Applies a change to the volume and, where the mirror is in step, to the mirror, region by region. */
    private void change(long offset, long length, Op op) throws IOException {
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long regionEnd = Math.min(end, (pos / REGION + 1) * REGION);
            ReentrantLock l = stripes[(int) ((pos / REGION) % STRIPES)];
            l.lock();
            try {
                op.apply(origin, pos, regionEnd - pos);
                if (pos < synced) { // the resync has passed this region: keep it in step
                    op.apply(mirror, pos, regionEnd - pos);
                }
            } finally {
                l.unlock();
            }
            pos = regionEnd;
        }
    }

    @Override
    public void flush() throws IOException {
        origin.sync();
        mirror.sync();
    }

    @Override
    public void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        FileExtents.map(origin, offset, length, visitor);
    }


    // ---------------------------------------------------------------- splits

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
                    + " has " + copies.size() + " split mirrors, its maximum");
        }
        if (resyncFailure != null) {
            startResync(); // a failed resync is retried by the next attempt, from where it stopped
        }
        if (synced < size) {
            throw new VolumeException(VolumeException.Code.RESYNC_IN_PROGRESS, "volume " + volume + ": its mirror is "
                    + "resynchronising (" + (synced * 100 / size) + "% done); a split is possible when it is in step "
                    + "again — retry later");
        }
        origin.sync(); // a creation flushes the volume (what every layout promises)
        mirror.sync(); // and most of the split's data is on disk before writes are held
        return new Pending(id, persistent, dir.resolve(id + ".img.tmp"), new Instant[1]);
    }

    @Override
    public void commitShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        stopResync(); // finished already (prepare checked), but no thread may hold the old mirror any more
        StorageFile old = mirror;
        // Writes are held: the mirror holds exactly the volume now. It becomes the copy; a new mirror starts.
        storage.rename(dir.resolve("mirror.img"), p.tmp());
        mirror = freshMirror();
        // Where the file system shares extents (XFS reflink, btrfs), the new mirror starts as a clone of the split:
        // nothing has changed since the split (writes are held), so it is in step at once and no resync runs.
        try {
            storage.clone(p.tmp(), dir.resolve("mirror.img"));
            synced = size;
        } catch (IOException e) {
            // No FICLONE here (CloneUnsupportedException), or the clone failed: the clone is only a shortcut, the
            // background resync copies the volume into the fresh mirror instead.
            synced = 0;
        }
        old.close();
        p.instant()[0] = Instant.now();
    }

    @Override
    public synchronized ShadowCopyInfo completeShadowCopy(PendingShadowCopy pending) throws IOException {
        Pending p = (Pending) pending;
        if (synced < size) {
            startResync();
        }
        try (StorageFile split = storage.open(p.tmp(), OpenMode.READ_WRITE)) {
            split.sync();
        }
        storage.rename(p.tmp(), fileOf(p.id()));
        storage.syncDirectory(dir);
        ShadowCopyInfo info = new ShadowCopyInfo(p.id(), volume, nextSequence++, p.instant()[0], p.persistent(), size);
        copies.add(info);
        try {
            publish();
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
            events.warning(volume, "cannot remove an abandoned split: " + e.getMessage());
        }
        if ((resync == null || !resync.isAlive()) && synced < size) {
            startResync();
        }
    }

    @Override
    public synchronized boolean deleteShadowCopy(ShadowCopyId id, String reason) throws IOException {
        ShadowCopyInfo c = find(id);
        if (c == null) {
            return false;
        }
        copies.remove(c);
        publish();
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
        // A full copy back (writes are held): not instant, but the split stays an independent image.
        try (StorageFile src = storage.open(fileOf(id), OpenMode.READ); Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(REGION, 4096);
            for (long off = 0; off < size; off += REGION) {
                int n = (int) Math.min(REGION, size - off);
                long data = src.nextData(off);
                if (data < 0 || data >= off + n) {
                    origin.punchHole(off, n);
                    continue;
                }
                MemorySegment s = buf.asSlice(0, n);
                src.read(off, s);
                origin.write(off, s);
            }
        }
        origin.sync();
        stopResync();
        StorageFile old = mirror;
        storage.delete(dir.resolve("mirror.img"));
        mirror = freshMirror();
        old.close();
        startResync();
    }

    @Override
    public void readShadowCopy(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        split(id).read(offset, dst);
    }

    @Override
    public void mapShadowAllocation(ShadowCopyId id, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        FileExtents.map(split(id), offset, length, visitor);
    }

    private StorageFile split(ShadowCopyId id) throws IOException {
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
            used += split(c.id()).size();
        }
        return new ShadowStorageUsage(used, used + size, -1, dir.toString());
    }

    @Override
    public void setShadowStorageLimit(long maxBytes) throws IOException {
        if (maxBytes != Long.MAX_VALUE) {
            throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, "volume " + volume + " keeps full "
                    + "split mirrors; the file system's free space is their limit (no shadow storage maximum)");
        }
    }

    @Override
    public void mapChanges(int sinceSequence, ShadowCopyId asOf, long offset, long length,
                           BlockDevice.ExtentVisitor visitor) throws IOException {
        throw new VolumeException(VolumeException.Code.BAD_STATE, "volume " + volume + " is a split-mirror volume "
                + "and keeps no change tracking; read the whole volume");
    }

    @Override
    public int trackingSince() {
        return Integer.MAX_VALUE;
    }

    @Override
    public void checkpoint() {
        // the list of copies is published on every change; the mirror is resynchronised at open
    }

    @Override
    public void close() throws IOException {
        closed = true;
        stopResync();
        origin.sync(); // a clean close leaves every write durable
        for (StorageFile f : open.values()) {
            f.close();
        }
        open.clear();
        mirror.close();
        origin.close();
    }

    private void publish() throws IOException {
        list.publish(List.copyOf(copies));
    }
}
