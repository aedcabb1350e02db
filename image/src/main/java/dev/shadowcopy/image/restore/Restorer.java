package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Writes a volume of a backup point to a block device (file, disk, managed volume), in parallel. Every chunk
 * is checked against its id as it is read, so a damaged repository fails the restore with the chunk named
 * instead of writing wrong data. Zero chunks are skipped on a fresh sparse target and zeroed (deallocating
 * where the target can) otherwise. With {@code verify}, the target is read back and every chunk re-hashed.
 */
public final class Restorer {

    /**
     * @param writeback a handle of the target's file on which write-back is started as the restore goes (every
     *                  {@link #WRITEBACK_EVERY} bytes), so that the final flush finds little left and the disk
     *                  writes while chunks are still being read and decoded; null to leave it to the kernel
     */
    public record Options(boolean freshTarget, boolean verify, int threads, Duration lockWait, StorageFile writeback) {
        public Options(boolean freshTarget, boolean verify, int threads, Duration lockWait) {
            this(freshTarget, verify, threads, lockWait, null);
        }
    }

    /** Bytes written between two starts of write-back on the target (see {@link Options#writeback}). */
    static final long WRITEBACK_EVERY = 32L << 20;

    public record Result(long size, long bytesWritten, long zeroBytes, boolean verified, Duration elapsed) {}

    private Restorer() {}

    public static Result restore(Repository repo, String backupId, String volume, BlockDevice target, Options o,
                                 Progress progress) throws IOException {
        long t0 = System.nanoTime();
        try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.SHARED, o.lockWait(), "the restore")) {
            Manifest m = BackupStore.of(repo).manifest(BackupStore.of(repo).resolve(backupId));
            Manifest.VolumeEntry v = m.volume(volume);
            if (v == null) {
                throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "backup " + m.id() + " has no volume "
                        + volume + " (it has " + String.join(", ", m.volumes().stream().map(Manifest.VolumeEntry::name)
                        .toList()) + ")");
            }
            VolumeIndex idx = BackupStore.of(repo).index(m, v);
            if (target.size() < idx.size()) {
                throw new RepositoryException(RepositoryException.Code.INVALID, "target " + target.name() + " has "
                        + target.size() + " bytes, the volume needs " + idx.size());
            }
            AtomicLong written = new AtomicLong();
            AtomicLong zeros = new AtomicLong();
            ChunkReader reader = new ChunkReader(repo, idx.chunkSize());
            parallel(idx, o.threads(), "restore " + volume, progress, (c, direct, scratch) -> {
                ChunkId id = idx.chunks()[c];
                int len = idx.chunkLength(c);
                long off = idx.chunkOffset(c);
                if (id.isZero()) {
                    if (!o.freshTarget()) {
                        target.writeZeroes(off, len, true, false);
                    }
                    zeros.addAndGet(len);
                    return;
                }
                reader.read(idx, c, direct, scratch); // decoded and checked where it will be written from
                target.write(off, direct.asSlice(0, len), false);
                long before = written.getAndAdd(len);
                if (o.writeback() != null && before / WRITEBACK_EVERY != (before + len) / WRITEBACK_EVERY) {
                    o.writeback().startWriteback();
                }
            });
            target.flush();
            if (o.verify()) {
                verifyTarget(repo, idx, target, o.threads(), progress);
            }
            return new Result(idx.size(), written.get(), zeros.get(), o.verify(),
                    Duration.ofNanos(System.nanoTime() - t0));
        }
    }

    /** Reads the target back and checks every chunk against the index. */
    public static void verifyTarget(Repository repo, VolumeIndex idx, BlockDevice target, int threads,
                                    Progress progress) throws IOException {
        ChunkReader reader = new ChunkReader(repo, idx.chunkSize());
        parallel(idx, threads, "verify " + target.name(), progress, (c, direct, scratch) -> {
            int len = idx.chunkLength(c);
            MemorySegment seg = direct.asSlice(0, len);
            target.read(idx.chunkOffset(c), seg);
            ChunkId expect = idx.chunks()[c];
            boolean ok;
            if (expect.isZero()) {
                ok = seg.mismatch(scratch.asSlice(0, len).fill((byte) 0)) == -1;
            } else if (idx.patched(c)) { // no hash names the whole chunk: compared with what base and patch make
                ok = seg.mismatch(MemorySegment.ofArray(reader.read(idx, c)).asSlice(0, len)) == -1;
            } else {
                ok = repo.keys().chunkId(seg, len).equals(expect);
            }
            if (!ok) {
                throw new RepositoryException(RepositoryException.Code.CORRUPT, "verify failed: " + target.name()
                        + " differs from the backup at offset " + idx.chunkOffset(c) + " (" + len + " bytes)");
            }
        });
    }

    interface ChunkTask {
        /** {@code direct}: a chunk's room; {@code scratch}: an encoded chunk's room (both native, the worker's). */
        void run(int chunk, MemorySegment direct, MemorySegment scratch) throws IOException;
    }

    static void parallel(VolumeIndex idx, int threads, String phase, Progress progress, ChunkTask task)
            throws IOException {
        int t = 2 * Math.max(1, threads); // two per CPU: reads of chunk files and target writes wait on the disk
        int cs = idx.chunkSize();
        ThreadLocal<MemorySegment> directs = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(cs, 4096));
        ThreadLocal<MemorySegment> scratches = ThreadLocal.withInitial(() -> Arena.ofAuto()
                .allocate(BlobCodec.maxBlob(cs), 4096));
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong done = new AtomicLong();
        Semaphore inFlight = new Semaphore(t * 2);
        List<Future<?>> futures = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(t, Thread.ofPlatform().daemon().name("restore-", 0)
                .factory())) {
            progress.update(phase, 0, idx.size());
            for (int i = 0; i < idx.chunks().length && failure.get() == null; i++) {
                final int c = i;
                inFlight.acquire();
                futures.add(pool.submit(() -> {
                    try {
                        task.run(c, directs.get(), scratches.get());
                        done.addAndGet(idx.chunkLength(c));
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    } finally {
                        inFlight.release();
                    }
                }));
                progress.update(phase, done.get(), idx.size());
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        } catch (ExecutionException e) {
            failure.compareAndSet(null, e.getCause());
        } catch (IOException | RuntimeException e) {
            failure.compareAndSet(null, e);
        }
        Throwable f = failure.get();
        if (f instanceof IOException io) {
            throw io;
        } else if (f instanceof RuntimeException re) {
            throw re;
        } else if (f != null) {
            throw new IOException(phase + " failed: " + f, f);
        }
        progress.update(phase, idx.size(), idx.size());
    }
}
