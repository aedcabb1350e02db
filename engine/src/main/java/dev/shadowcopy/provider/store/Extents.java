package dev.shadowcopy.provider.store;

import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.volume.BlockDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Allocation maps of backing files and zero detection. */
public final class Extents {
    private static final int ZEROS_SIZE = 1 << 20;
    private static final MemorySegment ZEROS = Arena.global().allocate(ZEROS_SIZE, 4096);

    private Extents() {}

    /** True if every byte of {@code seg} is zero (vectorised comparison against a zero page). */
    public static boolean isZero(MemorySegment seg) {
        long n = seg.byteSize();
        for (long off = 0; off < n; off += ZEROS_SIZE) {
            long len = Math.min(ZEROS_SIZE, n - off);
            if (MemorySegment.mismatch(seg, off, off + len, ZEROS, 0, len) != -1) {
                return false;
            }
        }
        return true;
    }

    /** Reports holes (HOLE|ZERO) and data of a file range from SEEK_DATA/SEEK_HOLE. */
    public static void mapFile(StorageFile file, long offset, long length, long size, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long data = file.nextData(pos);
            if (data < 0 || data >= end) {
                visitor.extent(pos, end - pos, BlockDevice.EXTENT_HOLE | BlockDevice.EXTENT_ZERO);
                return;
            }
            if (data > pos) {
                if (!visitor.extent(pos, data - pos, BlockDevice.EXTENT_HOLE | BlockDevice.EXTENT_ZERO)) {
                    return;
                }
                pos = data;
            }
            long hole = Math.min(end, Math.min(size, file.nextHole(pos)));
            if (hole <= pos) {
                hole = end; // no hole information beyond: data to the end
            }
            if (!visitor.extent(pos, hole - pos, 0)) {
                return;
            }
            pos = hole;
        }
    }
}
