package dev.shadowcopy.image.backup;

import dev.shadowcopy.image.manifest.ChunkPatch;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads one volume's shadow copy into the repository and returns its index. Chunks that are holes are not
 * read; chunks that change tracking says are unchanged since the base are taken from the base's index
 * without reading; every chunk read is hashed and stored only if the repository does not know it yet.
 * Chunks are handled in parallel by the given executor (read, hash, compress, encrypt, write in one task; with
 * four tasks per CPU one waits for the disk while another computes, so reads, hashing, compression and writes
 * overlap). A chunk stays in the worker's native buffer from the read to the write, and each chunk file starts
 * going to the disk as soon as it is written, so the sync before the commit finds little left to do.
 *
 * <p>A chunk that changed in only a few places since the base (scattered small writes: change tracking's extents add
 * up to at most {@link ChunkPatch#limit} with the base's own patch) is stored as a {@link ChunkPatch} over the base's
 * whole chunk: only the changed extents are read from the copy, and only they are stored. The patch is cumulative
 * (it carries the base's patch's extents, read again from the copy, which still holds their bytes since they did not
 * change), so a chunk never reads from more than two objects.
 */
final class VolumeBackup {
    private static final MemorySegment ZEROS = Arena.global().allocate(Repository.DEFAULT_CHUNK_SIZE * 16L, 4096);

    record Stats(long allocatedBytes, long bytesRead, long newChunks, long storedBytes, long zeroChunks) {}

    record Outcome(VolumeIndex index, Stats stats) {}

    private final Repository repo;
    private final KnownChunks known;
    private final ExecutorService pool;
    private final int parallel;
    private final ThreadLocal<Buffers> buffers;

    private final AtomicLong allocated = new AtomicLong();
    private final AtomicLong read = new AtomicLong();
    private final AtomicLong newChunks = new AtomicLong();
    private final AtomicLong stored = new AtomicLong();
    private final AtomicLong zero = new AtomicLong();

    /** A worker's buffers: the chunk as read, and its encoded blob (native, reused: nothing per chunk on the heap). */
    private record Buffers(MemorySegment direct, MemorySegment blob) {}

    VolumeBackup(Repository repo, KnownChunks known, ExecutorService pool, int parallel) {
        this.repo = repo;
        this.known = known;
        this.pool = pool;
        this.parallel = parallel;
        int cs = repo.chunkSize();
        this.buffers = ThreadLocal.withInitial(() -> new Buffers(Arena.ofAuto().allocate(cs, 4096),
                Arena.ofAuto().allocate(BlobCodec.maxBlob(cs), 4096)));
    }

    /**
     * @param reuse   chunks that need no reading, with their ids from the base (null: read every chunk)
     * @param changed where the others changed since the base (null: no patches, whole chunks only)
     */
    Outcome run(BlockDevice device, VolumeIndex base, BitSet reuse, ChangedExtents changed, String phase,
                Progress progress) throws IOException {
        long size = device.size();
        int cs = repo.chunkSize();
        int n = VolumeIndex.count(size, cs);
        ChunkId[] ids = new ChunkId[n];
        ChunkId[] bases = new ChunkId[n];
        BitSet data = allocatedChunks(device, cs, n);
        long total = 0;
        for (int i = 0; i < n; i++) {
            if (reuse != null && reuse.get(i)) {
                ids[i] = base.chunks()[i];
                bases[i] = base.base(i);
                if (!ids[i].isZero()) {
                    allocated.addAndGet(chunkLength(size, cs, i));
                }
            } else if (!data.get(i)) {
                ids[i] = ChunkId.ZERO;
                zero.incrementAndGet();
            } else {
                total += chunkLength(size, cs, i);
            }
        }
        Semaphore inFlight = new Semaphore(parallel * 2);
        AtomicLong done = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Future<?>> futures = new ArrayList<>();
        progress.update(phase, 0, total);
        try {
            for (int i = 0; i < n && failure.get() == null; i++) {
                if (ids[i] != null) {
                    continue;
                }
                final int c = i;
                inFlight.acquire();
                if (failure.get() != null) {
                    inFlight.release();
                    break;
                }
                futures.add(pool.submit(() -> {
                    try {
                        if (!patch(device, size, cs, c, base, changed, ids, bases)) {
                            ids[c] = chunk(device, size, cs, c);
                        }
                        done.addAndGet(chunkLength(size, cs, c));
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    } finally {
                        inFlight.release();
                    }
                }));
                progress.update(phase, done.get(), total);
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } catch (InterruptedException e) {
            futures.forEach(f -> f.cancel(true));
            Thread.currentThread().interrupt();
            throw new IOException("backup interrupted");
        } catch (ExecutionException e) {
            failure.compareAndSet(null, e.getCause());
        } catch (IOException | RuntimeException e) {
            failure.compareAndSet(null, e);
            for (Future<?> f : futures) {
                try {
                    f.get();
                } catch (InterruptedException | ExecutionException ignored) {
                    // the first failure is what is reported
                }
            }
        }
        Throwable t = failure.get();
        if (t instanceof IOException io) {
            throw io;
        } else if (t instanceof RuntimeException re) {
            throw re;
        } else if (t != null) {
            throw new IOException("backup of " + device.name() + " failed: " + t, t);
        }
        progress.update(phase, total, total);
        boolean anyPatch = false;
        for (ChunkId b : bases) {
            anyPatch |= b != null;
        }
        return new Outcome(new VolumeIndex(size, cs, ids, anyPatch ? bases : null), new Stats(allocated.get(),
                read.get(), newChunks.get(), stored.get(), zero.get()));
    }

    /**
     * Stores chunk {@code c} as a patch over the base's whole chunk when its changes are few enough; false when it
     * must be read whole (no base or no tracking, or too much changed).
     */
    private boolean patch(BlockDevice device, long size, int cs, int c, VolumeIndex base, ChangedExtents changed,
                          ChunkId[] ids, ChunkId[] bases) throws IOException {
        if (base == null || changed == null || !changed.changed(c)) {
            return false;
        }
        int len = chunkLength(size, cs, c);
        Buffers b = buffers.get();
        List<int[]> extents = changed.in(c);
        ChunkId over = base.chunks()[c];
        if (base.patched(c)) {
            over = base.base(c);
            int pn = repo.readChunk(base.chunks()[c], b.direct(), b.blob());
            extents = ChangedExtents.merge(extents, ChunkPatch.extents(b.direct(), pn, over, len, "chunk "
                    + base.chunks()[c].hex()));
        }
        long plen = ChunkPatch.length(extents);
        long data = plen - ChunkPatch.headerLength(extents.size());
        if (data > ChunkPatch.limit(cs) || plen > cs) {
            return false;
        }
        MemorySegment p = b.direct();
        ChunkPatch.writeHeader(p, over, len, extents);
        long pos = ChunkPatch.headerLength(extents.size());
        for (int[] e : extents) {
            device.read((long) c * cs + e[0], p.asSlice(pos, e[1]));
            pos += e[1];
        }
        read.addAndGet(data);
        allocated.addAndGet(len);
        bases[c] = over;
        ids[c] = store(p, (int) plen, b.blob());
        return true;
    }

    private ChunkId chunk(BlockDevice device, long size, int cs, int i) throws IOException {
        int len = chunkLength(size, cs, i);
        Buffers b = buffers.get();
        MemorySegment seg = b.direct().asSlice(0, len);
        device.readUncached((long) i * cs, seg); // read once: past the page cache where the device can
        read.addAndGet(len);
        if (isZero(seg)) {
            zero.incrementAndGet();
            return ChunkId.ZERO;
        }
        allocated.addAndGet(len);
        return store(seg, len, b.blob());
    }

    /**
     * Names {@code plain[0, len)} (a whole chunk or a patch) by its hash and stores it unless the repository has it:
     * hashed, compressed and encrypted where it lies, into the worker's {@code blob}; no copy on the heap.
     */
    private ChunkId store(MemorySegment plain, int len, MemorySegment blob) throws IOException {
        ChunkId id = repo.keys().chunkId(plain, len);
        if (known.claim(id)) {
            int n = repo.codec().encode(BlobCodec.CHUNK, plain, len, "chunk " + id.hex(), blob);
            if (repo.writeChunk(id, blob, n)) { // false: object storage already had it (an interrupted backup's upload)
                newChunks.incrementAndGet();
                stored.addAndGet(n);
            }
        }
        return id;
    }

    static boolean isZero(MemorySegment seg) {
        long len = seg.byteSize();
        for (long off = 0; off < len; off += ZEROS.byteSize()) {
            long n = Math.min(ZEROS.byteSize(), len - off);
            if (MemorySegment.mismatch(seg, off, off + n, ZEROS, 0, n) != -1) {
                return false;
            }
        }
        return true;
    }

    static int chunkLength(long size, int cs, int i) {
        return (int) Math.min(cs, size - (long) i * cs);
    }

    /** Chunks with at least one allocated byte. */
    private static BitSet allocatedChunks(BlockDevice device, int cs, int n) throws IOException {
        BitSet data = new BitSet(n);
        device.mapAllocation(0, device.size(), (off, len, flags) -> {
            if ((flags & BlockDevice.EXTENT_ZERO) == 0) { // data, or a hole that may not read as zeros
                data.set((int) (off / cs), (int) ((off + len - 1) / cs) + 1);
            }
            return true;
        });
        return data;
    }
}
