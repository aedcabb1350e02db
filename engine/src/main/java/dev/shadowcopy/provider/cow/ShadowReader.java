package dev.shadowcopy.provider.cow;

import dev.shadowcopy.provider.store.ExtentCoalescer;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.device.FileExtents;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Reads a shadow copy of epoch {@code s}: each chunk from the live backing file if it was not written
 * after {@code s}, else from its preserved version. The caller holds the copy's read pin.
 */
final class ShadowReader {
    private ShadowReader() {}

    static void read(CowEngine eng, int s, long offset, MemorySegment dst) throws IOException {
        int shift = eng.shift();
        long end = offset + dst.byteSize();
        long pos = offset;
        while (pos < end) {
            long c = pos >>> shift;
            long chunkEnd = Math.min(end, (c + 1) << shift);
            if (eng.epochs.get(c) > s) {
                pos = readPreservedRun(eng, s, c, pos, end, offset, dst);
                continue;
            }
            // a run of chunks the copy shares with the live volume: one read
            long runEnd = chunkEnd;
            long next = c + 1;
            while (runEnd < end && eng.epochs.get(next) <= s) {
                runEnd = Math.min(end, (next + 1) << shift);
                next++;
            }
            eng.origin().read(pos, dst.asSlice(pos - offset, runEnd - pos));
            // A writer that overwrote one of them meanwhile published its preserved version before moving the
            // chunk's epoch: re-read those from shadow storage.
            for (long k = c; k < next; k++) {
                if (eng.epochs.get(k) > s) {
                    long ks = Math.max(pos, k << shift);
                    long ke = Math.min(runEnd, (k + 1) << shift);
                    readPreserved(eng, s, k, ks, dst.asSlice(ks - offset, ke - ks));
                }
            }
            pos = runEnd;
        }
    }

    private static void readPreserved(CowEngine eng, int s, long c, long pos, MemorySegment piece)
            throws IOException {
        int slot = eng.index.find(c, s);
        if (slot == VersionIndex.ZERO) {
            piece.fill((byte) 0);
        } else if (slot >= 0) {
            eng.diff.read(slot, pos - (c << eng.shift()), piece);
        } else {
            throw damaged(eng, s, c);
        }
    }

    private static VolumeException damaged(CowEngine eng, int s, long c) {
        return new VolumeException(VolumeException.Code.CORRUPT, "volume " + eng.volume + ": chunk " + c
                + " of the shadow copy with sequence " + s + " has no preserved version; the shadow copy is "
                + "damaged and must not be used (delete it)");
    }

    /**
     * Reads preserved chunks from {@code c} on, as far as they lie in consecutive slots (a stream of first
     * touches preserves into consecutive slots): one pread per run. Returns the position after what was read.
     */
    private static long readPreservedRun(CowEngine eng, int s, long c, long pos, long end, long offset,
                                         MemorySegment dst) throws IOException {
        int shift = eng.shift();
        int slot = eng.index.find(c, s);
        if (slot < 0) {
            long chunkEnd = Math.min(end, (c + 1) << shift);
            readPreserved(eng, s, c, pos, dst.asSlice(pos - offset, chunkEnd - pos));
            return chunkEnd;
        }
        long runEnd = Math.min(end, (c + 1) << shift);
        long next = c + 1;
        while (runEnd < end && eng.epochs.get(next) > s && eng.index.find(next, s) == slot + (int) (next - c)) {
            runEnd = Math.min(end, (next + 1) << shift);
            next++;
        }
        eng.diff.read(slot, pos - (c << shift), dst.asSlice(pos - offset, runEnd - pos));
        return runEnd;
    }

    static void mapAllocation(CowEngine eng, int s, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException {
        int shift = eng.shift();
        ExtentCoalescer out = new ExtentCoalescer(visitor);
        long end = offset + length;
        long pos = offset;
        while (pos < end && !out.stopped()) {
            long c = pos >>> shift;
            long chunkEnd = Math.min(end, (c + 1) << shift);
            if (eng.epochs.get(c) <= s) {
                long runEnd = chunkEnd;
                long next = c + 1;
                while (runEnd < end && eng.epochs.get(next) <= s) {
                    runEnd = Math.min(end, (next + 1) << shift);
                    next++;
                }
                FileExtents.map(eng.origin(), pos, runEnd - pos, out::add);
                pos = runEnd;
            } else {
                int slot = eng.index.find(c, s);
                out.add(pos, chunkEnd - pos, slot == VersionIndex.ZERO
                        ? BlockDevice.EXTENT_HOLE | BlockDevice.EXTENT_ZERO : 0);
                pos = chunkEnd;
            }
        }
        out.finish();
    }

    /** Extents with flag 1 for chunks whose content as of {@code asOf} was written after epoch {@code since}. */
    static void mapChanges(CowEngine eng, int since, int asOf, long offset, long length,
                           BlockDevice.ExtentVisitor visitor) throws IOException {
        int shift = eng.shift();
        ExtentCoalescer out = new ExtentCoalescer(visitor);
        long end = offset + length;
        long pos = offset;
        while (pos < end && !out.stopped()) {
            long c = pos >>> shift;
            long chunkEnd = Math.min(end, (c + 1) << shift);
            int w = eng.epochs.get(c);
            int version = w <= asOf ? w : eng.index.versionEpoch(c, asOf);
            boolean changed = version < 0 || version > since; // unknown version: report changed, never miss one
            out.add(pos, chunkEnd - pos, changed ? 1 : 0);
            pos = chunkEnd;
        }
        out.finish();
    }
}
