package dev.shadowcopy.nbd.export;

import dev.shadowcopy.device.BlockDevice;
import java.util.List;

/** Any block device as an export, without dirty bitmaps (an overlay, a backup point for instant recovery). */
public record DeviceExport(String name, String description, BlockDevice device) implements Export {
    @Override
    public List<String> dirtyBitmaps() {
        return List.of();
    }

    @Override
    public boolean hasDirtyBitmap(String bitmap) {
        return false;
    }

    @Override
    public void mapDirty(String bitmap, long offset, long length, BlockDevice.ExtentVisitor visitor) {
        throw new UnsupportedOperationException("no dirty bitmaps on " + name);
    }
}
