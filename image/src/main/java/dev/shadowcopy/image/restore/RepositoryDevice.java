package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.ReadOnlyException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A volume of a backup point as a read-only block device, read straight from the repository: what instant
 * recovery serves over NBD, what exports convert. Zero chunks are holes. Each chunk read is checked against
 * its id; a small cache of decoded chunks serves the small, repeated reads of a booting guest.
 *
 * <p>Thread-safety: reads may run concurrently.
 */
public final class RepositoryDevice implements BlockDevice {
    private static final int CACHE_BYTES = 64 << 20;

    private final VolumeIndex index;
    private final String name;
    private final int cacheChunks;
    private final Map<Integer, byte[]> cache;
    private final ChunkReader reader;
    /** An encoded chunk's room, per thread, for whole-chunk reads. */
    private final ThreadLocal<MemorySegment> scratch;

    public RepositoryDevice(Repository repo, Manifest m, Manifest.VolumeEntry v) throws IOException {
        this.index = BackupStore.of(repo).index(m, v);
        this.name = "volume " + v.name() + " of backup " + m.id();
        this.cacheChunks = Math.max(2, CACHE_BYTES / index.chunkSize());
        this.reader = new ChunkReader(repo, index.chunkSize());
        int blob = BlobCodec.maxBlob(index.chunkSize());
        this.scratch = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(blob, 4096));
        this.cache = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Integer, byte[]> e) {
                return size() > cacheChunks;
            }
        };
    }

    public VolumeIndex index() {
        return index;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() {
        return index.size();
    }

    @Override
    public boolean isReadOnly() {
        return true;
    }

    @Override
    public int preferredBlockSize() {
        return 4096;
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        long pos = 0;
        long len = dst.byteSize();
        int cs = index.chunkSize();
        while (pos < len) {
            long at = offset + pos;
            int c = (int) (at / cs);
            int within = (int) (at - (long) c * cs);
            int n = (int) Math.min(index.chunkLength(c) - within, len - pos);
            ChunkId id = index.chunks()[c];
            if (id.isZero()) {
                dst.asSlice(pos, n).fill((byte) 0);
            } else if (within == 0 && n == index.chunkLength(c) && dst.isNative() && !cached(c)) {
                // a whole chunk (a copy, an export, a live restore's background copy): decoded straight into the
                // caller's buffer, and not cached, so that it does not push out what a guest's small reads need
                reader.read(index, c, dst.asSlice(pos, n), scratch.get());
            } else {
                byte[] data = chunk(c);
                MemorySegment.copy(data, within, dst, ValueLayout.JAVA_BYTE, pos, n);
            }
            pos += n;
        }
    }

    private boolean cached(int c) {
        synchronized (cache) {
            return cache.containsKey(c);
        }
    }

    private byte[] chunk(int c) throws IOException {
        synchronized (cache) {
            byte[] hit = cache.get(c);
            if (hit != null) {
                return hit;
            }
        }
        byte[] data = reader.read(index, c);
        synchronized (cache) {
            cache.put(c, data);
        }
        return data;
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        throw new ReadOnlyException(name);
    }

    @Override
    public void flush() {
        // nothing is written
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        throw new ReadOnlyException(name);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException {
        throw new ReadOnlyException(name);
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        long end = offset + length;
        long pos = offset;
        int cs = index.chunkSize();
        while (pos < end) {
            int c = (int) (pos / cs);
            boolean zero = index.chunks()[c].isZero();
            long runEnd = Math.min(end, index.chunkOffset(c) + index.chunkLength(c));
            while (runEnd < end && index.chunks()[(int) (runEnd / cs)].isZero() == zero) {
                int d = (int) (runEnd / cs);
                runEnd = Math.min(end, index.chunkOffset(d) + index.chunkLength(d));
            }
            if (!visitor.extent(pos, runEnd - pos, zero ? EXTENT_HOLE | EXTENT_ZERO : 0)) {
                return;
            }
            pos = runEnd;
        }
    }
}
