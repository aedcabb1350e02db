package dev.shadowcopy.provider.row;

import dev.shadowcopy.provider.store.ExtentCoalescer;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** Reads of copies and the allocation and change maps of a redirect-on-write volume. */
final class RowMaps {
    private RowMaps() {}

    /** Reads the copy of epoch {@code s}; the caller holds its read pin. */
    static void readCopy(RowEngine eng, int s, long offset, MemorySegment dst) throws IOException {
        int shift = eng.shift;
        long end = offset + dst.byteSize();
        long pos = offset;
        while (pos < end) {
            long c = pos >>> shift;
            long chunkEnd = Math.min(end, (c + 1) << shift);
            int loc = location(eng, s, c);
            if (loc == VersionIndex.BASE) {
                // a run of chunks whose version for this copy is in the base: one read
                long runEnd = chunkEnd;
                long next = c + 1;
                while (runEnd < end && location(eng, s, next) == VersionIndex.BASE) {
                    runEnd = Math.min(end, (next + 1) << shift);
                    next++;
                }
                eng.base.read(pos, dst.asSlice(pos - offset, runEnd - pos));
                long good = runEnd;
                for (long k = c; k < next; k++) {
                    if (location(eng, s, k) != VersionIndex.BASE) {
                        good = Math.max(pos, k << shift);
                        break;
                    }
                }
                pos = good;
                continue;
            }
            eng.readAt(c, loc, pos, dst.asSlice(pos - offset, chunkEnd - pos));
            if (location(eng, s, c) == loc) {
                pos = chunkEnd;
            }
        }
    }

    /**
     * Where the copy of epoch {@code s} finds chunk {@code c}: its live location if not written since (the
     * version is the live one), else the kept version. Versions a pinned copy needs are never freed; a live
     * location may move, which the caller detects by asking again after reading.
     */
    private static int location(RowEngine eng, int s, long c) {
        if (eng.state.liveEpoch.get(c) <= s) {
            int loc = eng.state.location(c);
            if (eng.state.liveEpoch.get(c) <= s) {
                return loc;
            }
        }
        return eng.state.versions.find(c, s);
    }

    static void mapLive(RowEngine eng, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        map(eng, -1, offset, length, visitor);
    }

    static void mapCopy(RowEngine eng, int s, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        map(eng, s, offset, length, visitor);
    }

    private static void map(RowEngine eng, int s, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        int shift = eng.shift;
        ExtentCoalescer out = new ExtentCoalescer(visitor);
        long end = offset + length;
        long pos = offset;
        while (pos < end && !out.stopped()) {
            long c = pos >>> shift;
            long chunkEnd = Math.min(end, (c + 1) << shift);
            int loc = s < 0 ? eng.state.location(c) : location(eng, s, c);
            if (loc == VersionIndex.BASE) {
                FileExtents.map(eng.base, pos, chunkEnd - pos, out::add);
            } else if (loc == VersionIndex.ZERO) {
                out.add(pos, chunkEnd - pos, BlockDevice.EXTENT_HOLE | BlockDevice.EXTENT_ZERO);
            } else {
                out.add(pos, chunkEnd - pos, 0);
            }
            pos = chunkEnd;
        }
        out.finish();
    }

    /** Extents with flag 1 for chunks whose version as of {@code asOf} was written after epoch {@code since}. */
    static void mapChanges(RowEngine eng, int since, int asOf, long offset, long length,
                           BlockDevice.ExtentVisitor visitor) throws IOException {
        int shift = eng.shift;
        ExtentCoalescer out = new ExtentCoalescer(visitor);
        long end = offset + length;
        long pos = offset;
        while (pos < end && !out.stopped()) {
            long c = pos >>> shift;
            long chunkEnd = Math.min(end, (c + 1) << shift);
            int w = eng.state.liveEpoch.get(c);
            int version = w <= asOf ? w : eng.state.versions.versionEpoch(c, asOf);
            out.add(pos, chunkEnd - pos, version < 0 || version > since ? 1 : 0);
            pos = chunkEnd;
        }
        out.finish();
    }
}
