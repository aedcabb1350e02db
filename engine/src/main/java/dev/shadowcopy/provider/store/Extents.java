package dev.shadowcopy.provider.store;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Zero detection of chunk contents. */
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
}
