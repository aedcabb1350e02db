package dev.shadowcopy.provider.mirror;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.FileCopies;
import dev.shadowcopy.provider.store.StripeLocks;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The full-copy provider (VSS's split mirror, attribute "Plex"): a mirror file is kept in step with the volume;
 * a shadow copy splits it off. The commit (writes held) renames the mirror to the copy's file — O(1) — and from
 * then on the copy is a complete, independent image: it survives the loss of the volume's backing and of this
 * engine's metadata. The new mirror is a FICLONE clone of the split where the file system shares extents (in step
 * at once: nothing changed since the split), else it resynchronises in the background from the volume, region by
 * region (holes skipped); until it is complete, another split is refused (retryable, {@code RESYNC_IN_PROGRESS}).
 * Copies are files of their own ({@link FileCopies}: durability and recovery) in {@code meta/mirror/}.
 *
 * <p>Write path: the volume, then the mirror if the region is already resynchronised (under the region's lock,
 * which the resync also takes, so a region is either copied after the write or written by it). Flush syncs both.
 * After a crash the mirror's content is not trusted (the two writes of a request are not atomic together): it is
 * resynchronised from scratch at open.
 *
 * <p>Locking: one region lock per 1 MiB region (striped), taken by writes and by the resync; the resync thread is one
 * at a time, ever: a generation counter stops the old one, and {@link #stopResync} waits for it, before any switch of
 * the mirror file.
 */
public final class MirrorEngine extends FileCopies {
    private static final int REGION = 1 << 20;
    private static final String MIRROR = "mirror.img";
    /**
     * Resync rate limit in MB/s (0: as fast as the disks go), like md's {@code speed_limit_max}: a resync competes
     * with the volume's own I/O. System property {@code shadowcopy.mirror.resync-mb-per-s}, read at open.
     */
    private final long resyncLimit = Long.getLong("shadowcopy.mirror.resync-mb-per-s", 0);
    private final StripeLocks regions = new StripeLocks(256);
    private volatile StorageFile mirror;
    /** Regions below this are in step with the volume; the resync advances it. */
    private volatile long synced;
    private volatile Thread resync;
    /** Which resync may run: a resync thread stops as soon as this is not its own. */
    private final AtomicInteger generation = new AtomicInteger();
    private volatile boolean closed;
    private volatile IOException resyncFailure;

    private MirrorEngine(EngineFiles f, Path dir, EngineOptions options, VolumeEvents events) {
        super(f, dir, Formats.MIRROR_COPY_LIST_MAGIC, "mirror-copies", options, events);
    }

    public static MirrorEngine open(EngineFiles f, EngineOptions options, VolumeEvents events) throws IOException {
        Path dir = f.metaDir().resolve("mirror");
        f.storage().createDirectories(dir);
        MirrorEngine e = new MirrorEngine(f, dir, options, events);
        e.recover();
        // The mirror is not trusted after a restart: start it over (see the class comment).
        e.storage.delete(dir.resolve(MIRROR));
        e.mirror = e.freshMirror();
        e.startResync();
        return e;
    }

    @Override
    protected boolean ownFile(String name) {
        return name.equals(MIRROR);
    }

    private StorageFile freshMirror() throws IOException {
        StorageFile m = storage.open(dir.resolve(MIRROR), OpenMode.CREATE_NEW);
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
                long region = off / REGION;
                regions.lock(region, region);
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
                    regions.unlock(region, region);
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
    public void write(long offset, MemorySegment src) throws IOException {
        change(offset, src.byteSize(), (f, off, len) -> f.write(off, src.asSlice(off - offset, len)));
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        change(offset, length, (f, off, len) -> f.punchHole(off, len));
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate) throws IOException {
        change(offset, length, (f, off, len) -> f.zero(off, len, mayDeallocate));
    }

    private interface Op {
        void apply(StorageFile f, long offset, long length) throws IOException;
    }

    /** Applies a change to the volume and, where the mirror is in step, to the mirror, region by region. */
    private void change(long offset, long length, Op op) throws IOException {
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long region = pos / REGION;
            long regionEnd = Math.min(end, (region + 1) * REGION);
            regions.lock(region, region);
            try {
                op.apply(origin, pos, regionEnd - pos);
                if (pos < synced) { // the resync has passed this region: keep it in step
                    op.apply(mirror, pos, regionEnd - pos);
                }
            } finally {
                regions.unlock(region, region);
            }
            pos = regionEnd;
        }
    }

    @Override
    public void flush() throws IOException {
        origin.sync();
        mirror.sync(); // most of a split's data is on disk before writes are held
    }

    // ---------------------------------------------------------------- splits

    @Override
    protected void checkCanCopy() throws IOException {
        if (resyncFailure != null) {
            startResync(); // a failed resync is retried by the next attempt, from where it stopped
        }
        if (synced < size) {
            throw new VolumeException(VolumeException.Code.RESYNC_IN_PROGRESS, "volume " + volume + ": its mirror is "
                    + "resynchronising (" + (synced * 100 / size) + "% done); a split is possible when it is in step "
                    + "again — retry later");
        }
    }

    /** Writes are held: the mirror holds exactly the volume now. It becomes the copy; a new mirror starts. */
    @Override
    protected void makeCopy(Path tmp) throws IOException {
        stopResync(); // finished already (prepare checked), but no thread may hold the old mirror any more
        StorageFile old = mirror;
        storage.rename(dir.resolve(MIRROR), tmp);
        mirror = freshMirror();
        // Where the file system shares extents (XFS reflink, btrfs), the new mirror starts as a clone of the split:
        // nothing has changed since the split (writes are held), so it is in step at once and no resync runs.
        try {
            storage.clone(tmp, dir.resolve(MIRROR));
            synced = size;
        } catch (IOException e) {
            // No FICLONE here (CloneUnsupportedException), or the clone failed: the clone is only a shortcut, the
            // background resync copies the volume into the fresh mirror instead.
            synced = 0;
        }
        old.close();
    }

    @Override
    protected void creationEnded() {
        if (synced < size && (resync == null || !resync.isAlive())) {
            startResync();
        }
    }

    /** A full copy back (writes are held): not instant, but the split stays an independent image. */
    @Override
    protected void restore(Path copy) throws IOException {
        try (StorageFile src = storage.open(copy, OpenMode.READ); Arena a = Arena.ofConfined()) {
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
        if (mirror == null) {
            return; // finishing an interrupted revert at open: the mirror is started over right after
        }
        stopResync();
        StorageFile old = mirror;
        storage.delete(dir.resolve(MIRROR));
        mirror = freshMirror();
        old.close();
        startResync();
    }

    /** The mirror itself, allocated beside the splits. */
    @Override
    protected long ownBytes() {
        return size;
    }

    @Override
    protected void closeOwn() throws IOException {
        closed = true;
        stopResync();
        mirror.close();
    }
}
