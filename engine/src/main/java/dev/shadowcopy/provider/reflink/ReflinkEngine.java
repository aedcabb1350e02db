package dev.shadowcopy.provider.reflink;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.CloneUnsupportedException;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.provider.store.FileCopies;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * The reflink provider: a volume backed by a file on a file system that shares extents (XFS with reflink,
 * btrfs), whose shadow copies are {@code FICLONE} clones of that file ({@link Storage#clone}). A copy costs no data
 * copy and is independent of the engine's metadata: the file system keeps the old extents as long as the clone
 * exists, and copy-on-write happens in the file system, not here. The live data path is the plain file; copies are
 * files of their own ({@link FileCopies}: durability and recovery) in {@code .<backing>.copies/} next to it.
 *
 * <p>Creation: prepare flushes the file (so the clone at the instant has little to write back); the commit (writes
 * held) clones it into {@code <id>.img.tmp}. Revert clones a copy back over the backing (instant) and syncs it. The
 * engine probes FICLONE when the volume is opened and refuses a file system that cannot clone.
 */
public final class ReflinkEngine extends FileCopies {
    private final Path backing;

    private ReflinkEngine(EngineFiles f, Path dir, EngineOptions options, VolumeEvents events) {
        super(f, dir, Formats.REFLINK_COPY_LIST_MAGIC, "reflink-copies", options, events);
        this.backing = f.originPath().toAbsolutePath();
    }

    /** Opens (or starts) a reflink volume; fails clearly when the backing cannot be cloned. */
    public static ReflinkEngine open(EngineFiles f, EngineOptions options, VolumeEvents events) throws IOException {
        if (f.origin().isBlockDevice()) {
            throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, "volume " + f.volumeName() + ": the "
                    + "reflink layout needs a regular backing file on XFS (reflink=1) or btrfs, not a block device");
        }
        Path backing = f.originPath().toAbsolutePath();
        Path dir = backing.resolveSibling("." + backing.getFileName() + ".copies");
        f.storage().createDirectories(dir);
        probe(f.storage(), backing, dir, f.volumeName());
        ReflinkEngine e = new ReflinkEngine(f, dir, options, events);
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
        origin.zero(offset, length, mayDeallocate);
    }

    /** The instant: writes are held, the clone shares every extent of the backing right now. */
    @Override
    protected void makeCopy(Path tmp) throws IOException {
        storage.clone(backing, tmp);
    }

    /** The whole backing shares the copy's extents again: instant. */
    @Override
    protected void restore(Path copy) throws IOException {
        storage.clone(copy, backing);
        origin.sync();
    }
}
