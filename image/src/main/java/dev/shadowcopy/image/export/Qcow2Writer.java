package dev.shadowcopy.image.export;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * Writes a block device as a qcow2 (version 3) image, natively: 64 KiB clusters, no compression, no backing
 * file. Holes and all-zero clusters are left unallocated (they read as zeros). Written in one pass: the header
 * cluster, then the data clusters in guest order, then the L2 tables, the L1 table, the refcount blocks and the
 * refcount table, all with refcount 1 (the image has no snapshots, so every L1/L2 entry carries
 * QCOW_OFLAG_COPIED). The layout follows QEMU's docs/interop/qcow2.txt; {@code qemu-img check} finds it clean.
 * Durable (fsync) on return; written to {@code target.tmp} and renamed, so a crash never leaves a half image
 * under the target's name. Every file operation goes through a {@link Storage} (the engine's durability seam).
 */
public final class Qcow2Writer {
    private static final int CLUSTER_BITS = 16;
    private static final int CLUSTER = 1 << CLUSTER_BITS;
    private static final int L2_ENTRIES = CLUSTER / 8;
    private static final int REFCOUNT_ORDER = 4; // 16-bit refcounts, QEMU's default
    private static final int REFS_PER_BLOCK = CLUSTER * 8 / (1 << REFCOUNT_ORDER);
    private static final long COPIED = 1L << 63;
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE_SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    public record Result(long virtualSize, long dataClusters, long fileSize) {}

    private Qcow2Writer() {}

    public static Result write(BlockDevice source, Path target, Progress progress) throws IOException {
        return write(LocalStorage.INSTANCE, source, target, progress);
    }

    /** Writes {@code source} as a qcow2 image at {@code target} on {@code storage}. */
    public static Result write(Storage storage, BlockDevice source, Path target, Progress progress)
            throws IOException {
        long size = source.size();
        long guestClusters = (virtualSize(size) + CLUSTER - 1) / CLUSTER;
        long l1Size = (guestClusters + L2_ENTRIES - 1) / L2_ENTRIES;
        if (guestClusters > Integer.MAX_VALUE) {
            throw new IOException("volume too large for this qcow2 writer: " + size + " bytes");
        }
        long[] hostOf = new long[(int) guestClusters]; // guest cluster → host offset, 0 = unallocated
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        storage.delete(tmp);
        boolean done = false;
        try (StorageFile out = storage.open(tmp, OpenMode.CREATE_NEW); Arena arena = Arena.ofConfined()) {
            int piece = 16 * CLUSTER;
            MemorySegment buf = arena.allocate(piece, 4096);
            MemorySegment zeros = arena.allocate(CLUSTER, 4096);
            long next = CLUSTER; // cluster 0 is the header
            long[] dataExtents = dataExtents(source);
            long doneBytes = 0;
            for (int e = 0; e < dataExtents.length; e += 2) {
                // Align each data extent out to whole clusters; a cluster shared by two extents is read once.
                long from = dataExtents[e] / CLUSTER * CLUSTER;
                long to = Math.min(size, (dataExtents[e + 1] + CLUSTER - 1) / CLUSTER * CLUSTER);
                for (long pos = from; pos < to; pos += piece) {
                    int n = (int) Math.min(piece, to - pos);
                    MemorySegment s = buf.asSlice(0, n);
                    source.read(pos, s);
                    int runStart = -1;
                    for (int c = 0; c * CLUSTER < n; c++) {
                        int len = Math.min(CLUSTER, n - c * CLUSTER);
                        int gc = (int) ((pos + (long) c * CLUSTER) / CLUSTER);
                        boolean zero = hostOf[gc] != 0 || MemorySegment.mismatch(s, (long) c * CLUSTER,
                                (long) c * CLUSTER + len, zeros, 0, len) == -1;
                        if (!zero) {
                            if (runStart < 0) {
                                runStart = c;
                            }
                            hostOf[gc] = next + (long) (c - runStart) * CLUSTER;
                        }
                        if ((zero || c * CLUSTER + len >= n) && runStart >= 0) {
                            int end = zero ? c : c + 1;
                            writeRun(out, s, runStart, end, next);
                            next += (long) (end - runStart) * CLUSTER;
                            runStart = -1;
                        }
                    }
                    doneBytes += n;
                    progress.update("qcow2 " + target.getFileName(), doneBytes, size);
                }
            }
            progress.update("qcow2 " + target.getFileName(), size, size);
            long dataClusters = next / CLUSTER - 1;
            // Which L2 tables are needed.
            int[] l2Slot = new int[(int) l1Size];
            long l2Count = 0;
            for (int t = 0; t < l1Size; t++) {
                l2Slot[t] = -1;
                int lo = t * L2_ENTRIES;
                int hi = (int) Math.min(guestClusters, lo + (long) L2_ENTRIES);
                for (int g = lo; g < hi; g++) {
                    if (hostOf[g] != 0) {
                        l2Slot[t] = (int) l2Count++;
                        break;
                    }
                }
            }
            long l1Clusters = Math.max(1, (l1Size * 8 + CLUSTER - 1) / CLUSTER);
            long fixed = 1 + dataClusters + l2Count + l1Clusters;
            long rb = 0;
            long rt = 0;
            while (true) { // the refcount structures count themselves: find the fixed point
                long total = fixed + rb + rt;
                long rb2 = (total + REFS_PER_BLOCK - 1) / REFS_PER_BLOCK;
                long rt2 = Math.max(1, (rb2 * 8 + CLUSTER - 1) / CLUSTER);
                if (rb2 == rb && rt2 == rt) {
                    break;
                }
                rb = rb2;
                rt = rt2;
            }
            long total = fixed + rb + rt;
            long l2Base = (1 + dataClusters) * CLUSTER;
            long l1Offset = l2Base + l2Count * CLUSTER;
            long rbBase = l1Offset + l1Clusters * CLUSTER;
            long rtOffset = rbBase + rb * CLUSTER;

            MemorySegment cl = arena.allocate(CLUSTER, 4096);
            for (int t = 0; t < l1Size; t++) {
                if (l2Slot[t] < 0) {
                    continue;
                }
                cl.fill((byte) 0);
                int lo = t * L2_ENTRIES;
                int hi = (int) Math.min(guestClusters, lo + (long) L2_ENTRIES);
                for (int g = lo; g < hi; g++) {
                    if (hostOf[g] != 0) {
                        cl.set(BE_LONG, (long) (g - lo) * 8, hostOf[g] | COPIED);
                    }
                }
                out.write(l2Base + (long) l2Slot[t] * CLUSTER, cl);
            }
            MemorySegment l1 = arena.allocate(l1Clusters * CLUSTER, 4096);
            for (int t = 0; t < l1Size; t++) {
                if (l2Slot[t] >= 0) {
                    l1.set(BE_LONG, t * 8L, (l2Base + (long) l2Slot[t] * CLUSTER) | COPIED);
                }
            }
            out.write(l1Offset, l1);
            for (long b = 0; b < rb; b++) {
                cl.fill((byte) 0);
                for (long i = 0; i < REFS_PER_BLOCK; i++) {
                    long host = b * REFS_PER_BLOCK + i;
                    if (host < total) {
                        cl.set(BE_SHORT, i * 2, (short) 1);
                    }
                }
                out.write(rbBase + b * CLUSTER, cl);
            }
            MemorySegment rtab = arena.allocate(rt * CLUSTER, 4096);
            for (long b = 0; b < rb; b++) {
                rtab.set(BE_LONG, b * 8, rbBase + b * CLUSTER);
            }
            out.write(rtOffset, rtab);
            cl.fill((byte) 0);
            cl.set(BE_INT, 0, Formats.QCOW2_MAGIC);   // "QFI\xfb"
            cl.set(BE_INT, 4, Formats.QCOW2_VERSION);
            cl.set(BE_INT, 20, CLUSTER_BITS);
            cl.set(BE_LONG, 24, virtualSize(size));
            cl.set(BE_INT, 36, (int) l1Size);
            cl.set(BE_LONG, 40, l1Offset);
            cl.set(BE_LONG, 48, rtOffset);
            cl.set(BE_INT, 56, (int) rt);
            cl.set(BE_INT, 96, REFCOUNT_ORDER);
            cl.set(BE_INT, 100, 104);            // header length; the end-of-extensions marker follows (zeros)
            out.write(0, cl);
            out.truncate(total * CLUSTER);
            out.sync();
            done = true;
            storage.rename(tmp, target);
            storage.syncDirectory(target.toAbsolutePath().getParent());
            return new Result(virtualSize(size), dataClusters, total * CLUSTER);
        } finally {
            if (!done) {
                storage.delete(tmp);
            }
        }
    }

    /**
     * QEMU counts qcow2 sizes in 512-byte sectors and drops a partial last sector on open, so the virtual size
     * is rounded up to 512 (the added bytes read as zeros).
     */
    public static long virtualSize(long size) {
        return (size + 511) / 512 * 512;
    }

    /**
     * Writes clusters {@code [from, to)} of the piece at {@code at}. The last cluster of a volume whose size is
     * not a multiple of the cluster is written short; the file grows over the rest when the metadata after it
     * is written.
     */
    private static void writeRun(StorageFile out, MemorySegment s, int from, int to, long at) throws IOException {
        long start = (long) from * CLUSTER;
        long end = Math.min(s.byteSize(), (long) to * CLUSTER);
        out.write(at, s.asSlice(start, end - start));
    }

    /** Data extents as [start, end) pairs in order; everything that is not a zero extent. */
    private static long[] dataExtents(BlockDevice source) throws IOException {
        java.util.List<Long> l = new java.util.ArrayList<>();
        source.mapAllocation(0, source.size(), (off, len, flags) -> {
            if ((flags & BlockDevice.EXTENT_ZERO) == 0) {
                if (!l.isEmpty() && l.getLast() == off) {
                    l.set(l.size() - 1, off + len);
                } else {
                    l.add(off);
                    l.add(off + len);
                }
            }
            return true;
        });
        return l.stream().mapToLong(Long::longValue).toArray();
    }
}
