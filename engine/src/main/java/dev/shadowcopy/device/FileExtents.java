package dev.shadowcopy.device;

import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;

/** The allocation map of a plain file: what every layout reports for data kept in a file of its own. */
public final class FileExtents {
    private FileExtents() {}

    /**
     * Reports the data and holes of {@code [offset, offset + length)} of {@code f} (SEEK_DATA / SEEK_HOLE) as
     * extents: holes as {@link BlockDevice#EXTENT_HOLE} | {@link BlockDevice#EXTENT_ZERO}, data as 0. A block device,
     * or a file without hole information, is all data.
     */
    public static void map(StorageFile f, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long data = f.isBlockDevice() ? pos : f.nextData(pos);
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
            long hole = f.isBlockDevice() ? end : Math.min(end, f.nextHole(pos));
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
