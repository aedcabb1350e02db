package dev.shadowcopy.image.backup;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a volume changed since its base backup, per chunk: the extents change tracking reported (and those
 * auto-recovery changed in the base's copy), split at chunk boundaries and kept as offsets within their chunk. An
 * incremental uses them to store a chunk changed in few places as a patch ({@code image.manifest.ChunkPatch}).
 */
final class ChangedExtents {
    private final long size;
    private final int chunkSize;
    private final Map<Integer, List<int[]>> byChunk = new HashMap<>();

    ChangedExtents(long size, int chunkSize) {
        this.size = size;
        this.chunkSize = chunkSize;
    }

    /** Records {@code [off, off + len)} (clipped to the volume). */
    void add(long off, long len) {
        long end = Math.min(size, off + len);
        for (long at = Math.max(0, off); at < end; ) {
            int c = (int) (at / chunkSize);
            long chunkEnd = Math.min(end, (long) (c + 1) * chunkSize);
            int within = (int) (at - (long) c * chunkSize);
            byChunk.computeIfAbsent(c, k -> new ArrayList<>()).add(new int[] {within, (int) (chunkEnd - at)});
            at = chunkEnd;
        }
    }

    /** True when chunk {@code c} changed. */
    boolean changed(int c) {
        return byChunk.containsKey(c);
    }

    /** The changed extents of chunk {@code c}, sorted and merged ({@code int[]{offset, length}}); empty if none. */
    List<int[]> in(int c) {
        List<int[]> e = byChunk.get(c);
        return e == null ? List.of() : merge(e, List.of());
    }

    /** The union of two lists of extents, sorted and merged (touching extents become one). */
    static List<int[]> merge(List<int[]> a, List<int[]> b) {
        List<int[]> all = new ArrayList<>(a.size() + b.size());
        all.addAll(a);
        all.addAll(b);
        all.sort(Comparator.comparingInt(e -> e[0]));
        List<int[]> out = new ArrayList<>();
        for (int[] e : all) {
            int[] last = out.isEmpty() ? null : out.getLast();
            if (last != null && e[0] <= last[0] + last[1]) {
                last[1] = Math.max(last[1], e[0] + e[1] - last[0]);
            } else {
                out.add(new int[] {e[0], e[1]});
            }
        }
        return out;
    }
}
