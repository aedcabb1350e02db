package dev.shadowcopy.testing;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.ReadOnlyException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A block device in a byte array: the simplest model of a disk, for tests of layers above devices. */
public final class MemoryDevice implements BlockDevice {
    private final byte[] data;
    private final boolean readOnly;

    public MemoryDevice(byte[] data, boolean readOnly) {
        this.data = data;
        this.readOnly = readOnly;
    }

    public byte[] data() {
        return data;
    }

    @Override
    public String name() {
        return "memory device";
    }

    @Override
    public long size() {
        return data.length;
    }

    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public int preferredBlockSize() {
        return 4096;
    }

    @Override
    public synchronized void read(long offset, MemorySegment dst) throws java.io.IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        MemorySegment.copy(data, (int) offset, dst, ValueLayout.JAVA_BYTE, 0, (int) dst.byteSize());
    }

    @Override
    public synchronized void write(long offset, MemorySegment src, boolean fua) throws java.io.IOException {
        BlockDevice.checkRange(this, offset, src.byteSize());
        if (readOnly) {
            throw new ReadOnlyException(name());
        }
        MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 0, data, (int) offset, (int) src.byteSize());
    }

    @Override
    public void flush() {
    }

    @Override
    public synchronized void trim(long offset, long length, boolean fua) throws java.io.IOException {
        writeZeroes(offset, length, true, fua);
    }

    @Override
    public synchronized void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua)
            throws java.io.IOException {
        BlockDevice.checkRange(this, offset, length);
        if (readOnly) {
            throw new ReadOnlyException(name());
        }
        java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws java.io.IOException {
        BlockDevice.checkRange(this, offset, length);
        visitor.extent(offset, length, 0);
    }
}
