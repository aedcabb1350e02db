package dev.shadowcopy.bench;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.platform.NativeFile;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.VolumeManager;
import dev.shadowcopy.volume.WriteHold;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The engine benchmark of issue 2. Every throughput is printed next to the same workload run on a plain file
 * of the same size on the same disk immediately before (pwrite/pread through the same native layer, a final
 * fdatasync included in both), and as the ratio of the two.
 *
 * <ul>
 *   <li>sequential 1 MiB writes over the whole volume and 4 KiB random writes (several threads), with 0, 1, 8
 *       and 64 shadow copies taken just before: "first touch" is the first pass after the copies, "rewrite"
 *       the same pass again;</li>
 *   <li>sequential reads of a shadow copy whose every chunk was preserved;</li>
 *   <li>shadow copy creation latency (p50/p99/max) and the write-hold window while writer threads keep
 *       writing.</li>
 * </ul>
 */
public final class EngineBench {
    private static final int SEQ_BLOCK = 1 << 20;
    private static final int RANDOM_BLOCK = 4096;

    private final Path dir;
    private final long size;
    private final int randomWrites;
    private final int threads;
    private final int[] copyCounts;
    private final VolumeLayout layout;
    private final boolean persistent;
    /** Offered load of the creation-latency writers in MB/s (0: as fast as they can). */
    private final int loadMbps;
    private final List<String[]> rows = new ArrayList<>();

    private EngineBench(Path dir, long size, int randomWrites, int threads, int[] copyCounts, VolumeLayout layout,
                        boolean persistent, int loadMbps) {
        this.loadMbps = loadMbps;
        this.layout = layout;
        this.persistent = persistent;
        this.dir = dir;
        this.size = size;
        this.randomWrites = randomWrites;
        this.threads = threads;
        this.copyCounts = copyCounts;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of("/var/tmp");
        long size = 1L << 30;
        int randomWrites = 16384;
        int threads = 8;
        int[] copies = {0, 1, 8, 64};
        VolumeLayout layout = VolumeLayout.COPY_ON_WRITE;
        boolean persistent = true;
        int loadMbps = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir" -> dir = Path.of(args[++i]);
                case "--size" -> size = Sizes.parse(args[++i]);
                case "--random-writes" -> randomWrites = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--copies" -> copies = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--layout" -> layout = VolumeLayout.parse(args[++i]);
                case "--creation-only" -> copies = new int[0];
                case "--non-persistent" -> persistent = false;
                case "--load-mbps" -> loadMbps = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench-engine [--dir DIR] [--size 1G] [--random-writes N] [--threads N] "
                            + "[--copies 0,1,8,64] [--layout cow|row|mirror|reflink] [--creation-only] [--non-persistent] [--load-mbps N]");
                    System.exit(2);
                }
            }
        }
        Path work = Files.createTempDirectory(dir, "shadowcopy-engine-bench-");
        try {
            new EngineBench(work, size, randomWrites, threads, copies, layout, persistent, loadMbps).run();
        } finally {
            try (var s = Files.walk(work)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private void run() throws Exception {
        System.out.printf(Locale.ROOT, "Engine benchmark (layout %s, %s copies): volume %s, 64 KiB chunks, sequential %s writes, "
                        + "%d random %s writes on %d threads, on %s (%d cores)%n%n", layout.shortName(),
                persistent ? "persistent" : "non-persistent", Sizes.format(size), Sizes.format(SEQ_BLOCK),
                randomWrites, Sizes.format(RANDOM_BLOCK), threads, dir, Runtime.getRuntime().availableProcessors());
        try (VolumeManager manager = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE);
             NativeFile raw = NativeFile.open(dir.resolve("raw.img"), OpenMode.CREATE)) {
            raw.truncate(size);
            BlockDevice rawDevice = new RawFileDevice(raw, size);
            prefill(rawDevice);
            for (int n : copyCounts) {
                sequential(manager, rawDevice, n);
            }
            if (copyCounts.length > 0 && persistent && layout == VolumeLayout.COPY_ON_WRITE) {
                copyOutBound(raw, rawDevice);
            }
            for (int n : copyCounts) {
                random(manager, rawDevice, n);
            }
            creationUnderLoad(manager);
        }
        if (!rows.isEmpty()) {
            printTable();
        }
    }

    private void sequential(VolumeManager manager, BlockDevice raw, int copies) throws IOException {
        ManagedVolume v = manager.create(config("seq" + copies));
        prefill(v);
        List<ShadowCopyInfo> taken = takeCopies(v, copies);
        double rawFirst = seqWrite(raw, 11);
        double first = seqWrite(v, 11);
        row("seq write, first touch", copies, first, rawFirst);
        double rawRe = seqWrite(raw, 12);
        double re = seqWrite(v, 12);
        row("seq write, rewrite", copies, re, rawRe);
        if (!taken.isEmpty()) {
            double rawRead = seqRead(raw);
            double read = seqRead(v.shadowCopy(taken.getLast().id()));
            row("seq read of a shadow copy", copies, read, rawRead);
            row("seq read of the live volume", copies, seqRead(v), seqRead(raw));
            long t0 = System.nanoTime();
            for (ShadowCopyInfo c : taken) {
                v.deleteShadowCopy(c.id());
            }
            System.out.printf(Locale.ROOT, "  %-30s copies %-3d %8.1f ms (all, oldest first)%n", "delete the copies",
                    copies, (System.nanoTime() - t0) / 1e6);
        }
        manager.delete(v.name(), true);
    }

    /**
     * A reference for the persistent first-touch rows: the least work any copy-on-write that makes old data durable
     * before overwriting it must do, done plainly. The raw file's sequential overwrite, where a second thread first
     * copies each 4 MiB window of old data into a preallocated file and fdatasyncs it (up to 4 windows ahead,
     * overlapping the writer), and the writer overwrites a window only once its copy is durable. No metadata, no
     * bookkeeping. It shows what the disk allows for this pattern, measured in the same run.
     */
    private void copyOutBound(NativeFile live, BlockDevice raw) throws Exception {
        int window = 4 << 20;
        Path copyPath = dir.resolve("copy-out-bound.dat");
        try (NativeFile copy = NativeFile.open(copyPath, OpenMode.CREATE); Arena a = Arena.ofShared()) {
            copy.truncate(size);
            copy.allocate(0, size); // reserved ahead, as shadow storage is (a hole costs 3× per synced write here)
            copy.sync();
            MemorySegment old = a.allocate(window, 4096);
            MemorySegment fresh = a.allocate(SEQ_BLOCK, 4096);
            fillRandom(fresh, 13);
            double rawMbps = seqWrite(raw, 14);
            CopyOutProgress progress = new CopyOutProgress();
            long t0 = System.nanoTime();
            Thread copier = new Thread(() -> {
                try {
                    for (long off = 0; off < size; off += window) {
                        if (!progress.awaitWriter(off - 4L * window)) {
                            return;
                        }
                        MemorySegment w = old.asSlice(0, Math.min(window, size - off));
                        live.read(off, w);
                        copy.write(off, w);
                        copy.sync();
                        progress.copied(Math.min(size, off + window));
                    }
                } catch (IOException | InterruptedException e) {
                    progress.fail();
                }
            });
            copier.start();
            try {
                for (long off = 0; off < size; off += SEQ_BLOCK) {
                    long end = Math.min(size, off + SEQ_BLOCK);
                    if (!progress.awaitCopied(end)) {
                        break;
                    }
                    live.write(off, fresh.asSlice(0, end - off));
                    progress.wrote(end);
                }
            } catch (IOException | RuntimeException e) {
                progress.fail(); // releases the copier
                throw e;
            } finally {
                copier.join();
            }
            if (progress.failed()) {
                throw new IOException("copy-out reference: the copier failed");
            }
            live.sync();
            double bound = mbps(size, System.nanoTime() - t0);
            row("seq first touch, minimal copy-out", 1, bound, rawMbps);
        } finally {
            Files.deleteIfExists(copyPath);
        }
    }

    /**
     * Where the copy-out reference's two threads are, in bytes. Each blocks (never spins: this runs on two cores,
     * where a spinning waiter takes the CPU the other thread needs) until the other has moved far enough.
     */
    private static final class CopyOutProgress {
        private long copied;
        private long written;
        private boolean failed;

        synchronized void copied(long to) {
            copied = to;
            notifyAll();
        }

        synchronized void wrote(long to) {
            written = to;
            notifyAll();
        }

        synchronized void fail() {
            failed = true;
            notifyAll();
        }

        synchronized boolean failed() {
            return failed;
        }

        /** Until the old data up to {@code to} is durable in the copy; false if the copier failed. */
        synchronized boolean awaitCopied(long to) throws InterruptedException {
            while (copied < to && !failed) {
                wait();
            }
            return !failed;
        }

        /** Until the writer has reached {@code at} (the copier keeps at most 4 windows ahead). */
        synchronized boolean awaitWriter(long at) throws InterruptedException {
            while (written < at && !failed) {
                wait();
            }
            return !failed;
        }
    }

    private void random(VolumeManager manager, BlockDevice raw, int copies) throws Exception {
        ManagedVolume v = manager.create(config("rnd" + copies));
        prefill(v);
        takeCopies(v, copies);
        long[] offsets = new long[randomWrites];
        Random r = new Random(copies);
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = (long) r.nextInt((int) (size / RANDOM_BLOCK)) * RANDOM_BLOCK;
        }
        double rawFirst = randomWrite(raw, offsets);
        double first = randomWrite(v, offsets);
        row("4K random write, first touch", copies, first, rawFirst);
        double rawRe = randomWrite(raw, offsets);
        double re = randomWrite(v, offsets);
        row("4K random write, rewrite", copies, re, rawRe);
        manager.delete(v.name(), true);
    }

    /** Creates a copy; a split mirror refuses while it resynchronises, so wait for it (bounded). */
    private ShadowCopyInfo createWaiting(ManagedVolume v) throws IOException {
        long end = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        while (true) {
            try {
                return v.createShadowCopy(ShadowCopyId.random(), persistent);
            } catch (dev.shadowcopy.device.VolumeException e) {
                if (e.code() != dev.shadowcopy.device.VolumeException.Code.RESYNC_IN_PROGRESS || System.nanoTime() > end) {
                    throw e;
                }
                try {
                    Thread.sleep(10); // the resync's pace, not ours, decides: poll it
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /** A volume of the benchmarked layout (reflink needs --dir on XFS with reflink=1 or btrfs). */
    private VolumeConfig config(String name) throws IOException {
        if (layout != VolumeLayout.REFLINK) {
            return VolumeConfig.sparse(name, size).withLayout(layout);
        }
        Path backing = dir.resolve(name + ".img");
        try (NativeFile f = NativeFile.open(backing, OpenMode.CREATE)) {
            f.truncate(size);
        }
        return VolumeConfig.existing(name, backing).withLayout(layout);
    }

    private List<ShadowCopyInfo> takeCopies(ManagedVolume v, int n) throws IOException {
        List<ShadowCopyInfo> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(createWaiting(v));
        }
        return out;
    }

    private void prefill(BlockDevice d) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(SEQ_BLOCK, 4096);
            fillRandom(buf, 7);
            for (long off = 0; off < size; off += SEQ_BLOCK) {
                d.write(off, buf.asSlice(0, Math.min(SEQ_BLOCK, size - off)), false);
            }
            d.flush();
        }
    }

    /** MB/s of 1 MiB writes over the whole device, including the final flush. */
    private double seqWrite(BlockDevice d, int seed) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(SEQ_BLOCK, 4096);
            fillRandom(buf, seed);
            long t0 = System.nanoTime();
            for (long off = 0; off < size; off += SEQ_BLOCK) {
                d.write(off, buf.asSlice(0, Math.min(SEQ_BLOCK, size - off)), false);
            }
            d.flush();
            return mbps(size, System.nanoTime() - t0);
        }
    }

    private double seqRead(BlockDevice d) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(SEQ_BLOCK, 4096);
            long t0 = System.nanoTime();
            for (long off = 0; off < size; off += SEQ_BLOCK) {
                d.read(off, buf.asSlice(0, Math.min(SEQ_BLOCK, size - off)));
            }
            return mbps(size, System.nanoTime() - t0);
        }
    }

    /** MB/s of 4 KiB writes at the given offsets, split over the threads, including the final flush. */
    private double randomWrite(BlockDevice d, long[] offsets) throws Exception {
        AtomicLong next = new AtomicLong();
        List<Thread> workers = new ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        long t0 = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int seed = t;
            Thread w = new Thread(() -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment buf = a.allocate(RANDOM_BLOCK, 4096);
                    fillRandom(buf, seed);
                    for (long i; (i = next.getAndIncrement()) < offsets.length; ) {
                        d.write(offsets[(int) i], buf, false);
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            w.start();
            workers.add(w);
        }
        for (Thread w : workers) {
            w.join();
        }
        if (!errors.isEmpty()) {
            throw new IOException("random writes failed", errors.getFirst());
        }
        d.flush();
        return mbps((long) offsets.length * RANDOM_BLOCK, System.nanoTime() - t0);
    }

    /** Creation latency while writer threads keep writing (4 KiB random and 1 MiB sequential). */
    private void creationUnderLoad(VolumeManager manager) throws Exception {
        ManagedVolume v = manager.create(config("load"));
        prefill(v);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong written = new AtomicLong();
        List<Thread> writers = new ArrayList<>();
        int writerCount = Math.max(2, threads / 2);
        // With an offered load, each writer paces itself to its share (a rate, like fio's --rate): latency
        // measured at a fixed load, not at whatever load a faster or slower write path lets the writers reach.
        double bytesPerNano = loadMbps > 0 ? loadMbps * 1e6 / 1e9 / writerCount : 0;
        for (int t = 0; t < writerCount; t++) {
            int seed = t;
            Thread w = new Thread(() -> {
                Random r = new Random(seed);
                long paceStart = System.nanoTime();
                long mine = 0;
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment big = a.allocate(SEQ_BLOCK, 4096);
                    fillRandom(big, seed);
                    long seqOff = (size / 4) * (seed % 4);
                    while (!stop.get()) {
                        if (bytesPerNano > 0) {
                            long due = paceStart + (long) (mine / bytesPerNano);
                            long ahead = due - System.nanoTime();
                            if (ahead > 0) {
                                java.util.concurrent.locks.LockSupport.parkNanos(ahead);
                                continue;
                            }
                        }
                        mine += seed % 2 == 0 ? RANDOM_BLOCK : SEQ_BLOCK;
                        if (seed % 2 == 0) {
                            long off = (long) r.nextInt((int) (size / RANDOM_BLOCK)) * RANDOM_BLOCK;
                            v.write(off, big.asSlice(0, RANDOM_BLOCK), false);
                            written.addAndGet(RANDOM_BLOCK);
                        } else {
                            v.write(seqOff, big, false);
                            seqOff = (seqOff + SEQ_BLOCK) % (size - SEQ_BLOCK);
                            written.addAndGet(SEQ_BLOCK);
                        }
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            w.start();
            writers.add(w);
        }
        int rounds = 200;
        // The first creations on a fresh volume pay one-time costs (JIT, class loading, shadow storage
        // preparation): measured at 15-37 ms on 2026-12-05, they alone made the p99. Not counted.
        int warmup = 20;
        long[] total = new long[rounds + warmup];
        long[] hold = new long[rounds + warmup];
        long[] prepare = new long[rounds + warmup];
        long[] drain = new long[rounds + warmup];
        long[] complete = new long[rounds + warmup];
        List<ShadowCopyInfo> live = new ArrayList<>();
        long w0 = written.get();
        long t0 = System.nanoTime();
        for (int i = 0; i < rounds + warmup; i++) {
            if (i == warmup) {
                w0 = written.get();
                t0 = System.nanoTime();
            }
            long a = System.nanoTime();
            VolumeEngine.PendingShadowCopy p;
            try {
                p = v.prepareShadowCopy(ShadowCopyId.random(), persistent);
            } catch (dev.shadowcopy.device.VolumeException e) {
                if (e.code() != dev.shadowcopy.device.VolumeException.Code.RESYNC_IN_PROGRESS) {
                    throw e;
                }
                i--; // a split mirror resynchronising: not a creation to time; wait and try again
                Thread.sleep(10);
                continue;
            }
            long prepared = System.nanoTime();
            long h;
            try (WriteHold held = v.holdWrites(Duration.ofSeconds(10))) {
                h = System.nanoTime();
                v.commitShadowCopy(p, held);
            }
            long released = System.nanoTime();
            hold[i] = released - h;
            live.add(v.completeShadowCopy(p));
            long end = System.nanoTime();
            total[i] = end - a;
            prepare[i] = prepared - a;
            drain[i] = h - prepared;
            complete[i] = end - released;
            if (live.size() > 32) {
                v.deleteShadowCopy(live.removeFirst().id());
            }
        }
        double achievedMbps = mbps(written.get() - w0, System.nanoTime() - t0);
        stop.set(true);
        for (Thread w : writers) {
            w.join();
        }
        total = Arrays.copyOfRange(total, warmup, warmup + rounds);
        hold = Arrays.copyOfRange(hold, warmup, warmup + rounds);
        prepare = Arrays.copyOfRange(prepare, warmup, warmup + rounds);
        drain = Arrays.copyOfRange(drain, warmup, warmup + rounds);
        complete = Arrays.copyOfRange(complete, warmup, warmup + rounds);
        Arrays.sort(total);
        Arrays.sort(hold);
        Arrays.sort(prepare);
        Arrays.sort(drain);
        Arrays.sort(complete);
        System.out.printf(Locale.ROOT, "Shadow copy creation under write load (%d rounds after %d warm-up, "
                        + "writers at %.0f MB/s%s, up to 33 copies kept):%n  creation latency  p50 %.2f ms  p99 %.2f ms  max %.2f ms%n"
                        + "  writes held for   p50 %.3f ms  p99 %.3f ms  max %.3f ms%n", rounds, warmup, achievedMbps,
                loadMbps > 0 ? " of " + loadMbps + " MB/s offered" : " (unpaced)",
                ms(total[rounds / 2]), ms(total[rounds * 99 / 100]), ms(total[rounds - 1]), ms(hold[rounds / 2]),
                ms(hold[rounds * 99 / 100]), ms(hold[rounds - 1]));
        System.out.printf(Locale.ROOT, "  of which: prepare (flush) p50 %.2f p99 %.2f ms; waiting for writes in flight "
                        + "p50 %.2f p99 %.2f ms; completion (flush + record) p50 %.2f p99 %.2f ms%n%n",
                ms(prepare[rounds / 2]), ms(prepare[rounds * 99 / 100]), ms(drain[rounds / 2]),
                ms(drain[rounds * 99 / 100]), ms(complete[rounds / 2]), ms(complete[rounds * 99 / 100]));
        manager.delete(v.name(), true);
    }

    private void row(String what, int copies, double ours, double raw) {
        rows.add(new String[] {what, Integer.toString(copies), String.format(Locale.ROOT, "%.0f", ours),
                String.format(Locale.ROOT, "%.0f", raw), String.format(Locale.ROOT, "%.2f", ours / raw)});
        System.out.printf(Locale.ROOT, "  %-30s copies %-3d %8.0f MB/s   raw %8.0f MB/s   %.2fx%n", what, copies, ours,
                raw, ours / raw);
    }

    private void printTable() {
        System.out.println("| workload | shadow copies | MB/s | raw MB/s | ratio |");
        System.out.println("|---|---:|---:|---:|---:|");
        for (String[] r : rows) {
            System.out.println("| " + String.join(" | ", r) + " |");
        }
    }

    private static void fillRandom(MemorySegment buf, long seed) {
        byte[] b = new byte[(int) buf.byteSize()];
        new Random(seed).nextBytes(b);
        MemorySegment.copy(b, 0, buf, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, b.length);
    }

    private static double mbps(long bytes, long nanos) {
        return bytes / 1e6 / (nanos / 1e9);
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
