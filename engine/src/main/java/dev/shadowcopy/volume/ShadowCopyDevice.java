package dev.shadowcopy.volume;

import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A shadow copy seen as a read-only block device: what the NBD server exports as {@code shadow/<id>} and
 * what backups read. Writes, trims and zeroing fail with {@link ReadOnlyException}; flush does nothing.
 * Reading a copy that was deleted meanwhile fails with {@link VolumeException} ({@code OBJECT_NOT_FOUND}).
 */
public final class ShadowCopyDevice implements BlockDevice {
    private final ManagedVolume volume;
    private final ShadowCopyInfo info;
    private final String name;

    ShadowCopyDevice(ManagedVolume volume, ShadowCopyInfo info) {
        this.volume = volume;
        this.info = info;
        this.name = "shadow copy " + info.id() + " of volume " + volume.name();
    }

    public ShadowCopyInfo info() {
        return info;
    }

    public ShadowCopyId id() {
        return info.id();
    }

    public ManagedVolume volume() {
        return volume;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() {
        return info.size();
    }

    @Override
    public boolean isReadOnly() {
        return true;
    }

    @Override
    public int preferredBlockSize() {
        return volume.preferredBlockSize();
    }

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        volume.engine().readShadowCopy(info.id(), offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        throw new ReadOnlyException(name);
    }

    @Override
    public void flush() {
        // nothing is ever written
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
        volume.engine().mapShadowAllocation(info.id(), offset, length, visitor);
    }

    /**
     * Reports which chunks of this copy differ from the copy with sequence {@code sinceSequence} (flag 1 =
     * changed). See {@link VolumeEngine#mapChanges}.
     */
    public void mapChangesSince(int sinceSequence, long offset, long length, ExtentVisitor visitor)
            throws IOException {
        BlockDevice.checkRange(this, offset, length);
        volume.engine().mapChanges(sinceSequence, info.id(), offset, length, visitor);
    }
}
