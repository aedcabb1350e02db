package dev.shadowcopy.volume;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.ReadOnlyException;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.overlay.OverlayDevice;
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
    /** True: the copy exactly as committed, ignoring any auto-recovery changes (the base of those changes). */
    private final boolean raw;

    ShadowCopyDevice(ManagedVolume volume, ShadowCopyInfo info, boolean raw) {
        this.volume = volume;
        this.info = info;
        this.raw = raw;
        this.name = "shadow copy " + info.id() + " of volume " + volume.name();
    }

    private OverlayDevice recovered() {
        return raw ? null : volume.recoveryOverlay(info.id());
    }

    /** True when writers changed this copy during auto-recovery (its reads include those changes). */
    public boolean autoRecovered() {
        return recovered() != null;
    }

    /** The extents auto-recovery changed (flag 1); nothing when the copy was not auto-recovered. */
    public void mapRecoveryChanges(ExtentVisitor visitor) throws IOException {
        OverlayDevice o = recovered();
        if (o != null) {
            o.writtenExtents(visitor);
        }
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
        OverlayDevice o = recovered();
        if (o != null) {
            o.read(offset, dst);
        } else {
            volume.engine().readShadowCopy(info.id(), offset, dst);
        }
    }

    @Override
    public void readUncached(long offset, MemorySegment dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.byteSize());
        OverlayDevice o = recovered();
        if (o != null) {
            o.read(offset, dst); // a copy auto-recovery changed reads through its overlay
        } else {
            volume.engine().readShadowCopyUncached(info.id(), offset, dst);
        }
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
        OverlayDevice o = recovered();
        if (o != null) {
            o.mapAllocation(offset, length, visitor);
        } else {
            volume.engine().mapShadowAllocation(info.id(), offset, length, visitor);
        }
    }

    /**
     * Reports which chunks of this copy differ from the copy with sequence {@code sinceSequence} (flag 1 =
     * changed). See {@link VolumeEngine#mapChanges}. Blocks auto-recovery changed count as changed.
     */
    public void mapChangesSince(int sinceSequence, long offset, long length, ExtentVisitor visitor)
            throws IOException {
        BlockDevice.checkRange(this, offset, length);
        OverlayDevice o = recovered();
        if (o == null) {
            volume.engine().mapChanges(sinceSequence, info.id(), offset, length, visitor);
            return;
        }
        java.util.List<long[]> extra = new java.util.ArrayList<>();
        o.writtenExtents((off, len, f) -> extra.add(new long[] {off, off + len}));
        volume.engine().mapChanges(sinceSequence, info.id(), offset, length, (off, len, flags) -> {
            if ((flags & 1) != 0) {
                return visitor.extent(off, len, flags);
            }
            long pos = off;
            long end = off + len;
            for (long[] e : extra) { // split an unchanged extent where auto-recovery wrote
                if (e[1] <= pos || e[0] >= end) {
                    continue;
                }
                if (e[0] > pos && !visitor.extent(pos, e[0] - pos, 0)) {
                    return false;
                }
                long s2 = Math.max(pos, e[0]);
                long e2 = Math.min(end, e[1]);
                if (!visitor.extent(s2, e2 - s2, 1)) {
                    return false;
                }
                pos = e2;
            }
            return pos >= end || visitor.extent(pos, end - pos, 0);
        });
    }
}
