package dev.shadowcopy.image.restore;

import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** A plain file of a {@link Storage} as a block device (the simulated disk's stand-in for a managed volume). */
final class StorageDevice implements BlockDevice, AutoCloseable {
    private final StorageFile file;
    private final long size;

    StorageDevice(Storage storage, Path path, long size, boolean create) throws IOException {
        this.file = storage.open(path, create ? OpenMode.CREATE_NEW : OpenMode.READ_WRITE);
        this.size = size;
        if (create) {
            file.truncate(size);
        }
    }

    @Override
    public String name() {
        return file.name();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean isReadOnly() {
        return false;
    }

    @Override
    public int preferredBlockSize() {
        return 4096;
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        file.read(offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, src.byteSize());
        file.write(offset, src);
        if (fua) {
            file.sync();
        }
    }

    @Override
    public void flush() throws IOException {
        file.sync();
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        writeZeroes(offset, length, true, fua);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        file.zeroRange(offset, length);
        if (fua) {
            file.sync();
        }
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        visitor.extent(offset, length, 0);
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
