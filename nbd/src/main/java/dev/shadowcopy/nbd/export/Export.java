package dev.shadowcopy.nbd.export;

import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.util.List;

/**
 * One export, opened for one NBD connection: the device it serves and the dirty bitmaps it offers under
 * {@code qemu:dirty-bitmap:<name>}. Closing it releases what opening it held.
 */
public interface Export extends AutoCloseable {

    String name();

    /** Shown to clients by NBD_OPT_LIST and NBD_INFO_DESCRIPTION. */
    String description();

    BlockDevice device();

    /** Bitmap names listed for this export (more may be accepted, see {@link #hasDirtyBitmap}). */
    List<String> dirtyBitmaps();

    /** True if {@code name} names a bitmap this export can answer. */
    boolean hasDirtyBitmap(String name);

    /**
     * Reports extents of {@code [offset, offset + length)} with {@code Nbd.STATE_DIRTY} where the data changed
     * since the bitmap's reference point.
     */
    void mapDirty(String bitmap, long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException;

    @Override
    default void close() {}
}
