package dev.shadowcopy.volume;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.device.ReadOnlyException;
import dev.shadowcopy.platform.NativeFile;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * A plain file or block device seen as a {@link BlockDevice}, with no shadow copies: what restores write to,
 * what tests and tools read from. Holes of a sparse file are reported by {@link #mapAllocation} (SEEK_DATA /
 * SEEK_HOLE); a block device reports everything as data.
 *
 * <p>Thread-safety: reads and writes are positional and may run concurrently.
 */
public final class FileDevice implements BlockDevice, AutoCloseable {
    private final NativeFile file;
    private final long size;
    private final boolean readOnly;

    private FileDevice(NativeFile file, long size, boolean readOnly) {
        this.file = file;
        this.size = size;
        this.readOnly = readOnly;
    }

    /** Opens an existing file or block device; its size is the device's size. */
    public static FileDevice open(Path path, boolean readOnly) throws IOException {
        NativeFile f = NativeFile.open(path, readOnly ? OpenMode.READ : OpenMode.READ_WRITE);
        try {
            return new FileDevice(f, f.size(), readOnly);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** Creates a new sparse file of {@code size} bytes (it must not exist). */
    public static FileDevice create(Path path, long size) throws IOException {
        NativeFile f = NativeFile.open(path, OpenMode.CREATE_NEW);
        try {
            f.truncate(size);
            return new FileDevice(f, size, false);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    public boolean isBlockDevice() {
        return file.isBlockDevice();
    }

    public Path path() {
        return file.path();
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
        return readOnly;
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
        checkWritable();
        BlockDevice.checkRange(this, offset, src.byteSize());
        file.write(offset, src);
        if (fua) {
            file.sync();
        }
    }

    @Override
    public void flush() throws IOException {
        if (!readOnly) {
            file.sync();
        }
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        writeZeroes(offset, length, true, fua);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayDeallocate, boolean fua) throws IOException {
        checkWritable();
        BlockDevice.checkRange(this, offset, length);
        // a block device is zeroed, never discarded
        file.zero(offset, length, mayDeallocate && !file.isBlockDevice());
        if (fua) {
            file.sync();
        }
    }

    @Override
    public void mapAllocation(long offset, long length, ExtentVisitor visitor) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        FileExtents.map(file, offset, length, visitor);
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException(name());
        }
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
