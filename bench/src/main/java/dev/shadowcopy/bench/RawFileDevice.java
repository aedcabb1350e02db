package dev.shadowcopy.bench;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** A plain file as a block device: the "raw file I/O" reference the engine is compared with. */
final class RawFileDevice implements BlockDevice {
    private final StorageFile file;
    private final long size;

    RawFileDevice(StorageFile file, long size) {
        this.file = file;
        this.size = size;
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
        file.read(offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
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
        file.punchHole(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException {
        file.zeroRange(offset, length);
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException {
        visitor.extent(offset, length, 0);
    }
}
