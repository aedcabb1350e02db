package dev.shadowcopy.bench;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.platform.NativeFile;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.FileDevice;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowCopyDevice;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Image backup benchmark, every figure a ratio against a reference measured in the same run:
 * <ul>
 *   <li>full backup of a shadow copy vs {@code qemu-img convert -O qcow2 -c -o compression_type=zstd} reading the
 *       same shadow copy over our NBD export (both made durable: qemu-img's output is fsync'd after it exits);</li>
 *   <li>incremental after 1 % of the volume changed (in 1 MiB runs, as file rewrites do; and as scattered 4 KiB
 *       blocks, the worst case for any chunked format) vs the full backup's time;</li>
 *   <li>restore to a new file vs writing the same bytes to a new file (fsync'd, same process);</li>
 *   <li>deduplication of a second, similar volume (90 % identical) backed up into the same repository.</li>
 * </ul>
 * Options: {@code --dir DIR} (default /var/tmp), {@code --size 2G}, {@code --chunk-sizes 256K,1M,4M},
 * {@code --level 1}, {@code --threads N}.
 */
public final class BackupBench {
    private Path dir = Path.of("/var/tmp");
    private long size = 2L << 30;
    private List<Integer> chunkSizes = List.of(1 << 20);
    private int level = Repository.DEFAULT_LEVEL;
    private int threads = Runtime.getRuntime().availableProcessors();

    public static void main(String[] args) throws Exception {
        BackupBench b = new BackupBench();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir" -> b.dir = Path.of(args[++i]);
                case "--size" -> b.size = Sizes.parse(args[++i]);
                case "--level" -> b.level = Integer.parseInt(args[++i]);
                case "--threads" -> b.threads = Integer.parseInt(args[++i]);
                case "--chunk-sizes" -> {
                    List<Integer> l = new ArrayList<>();
                    for (String s : args[++i].split(",")) {
                        l.add((int) Sizes.parse(s));
                    }
                    b.chunkSizes = l;
                }
                default -> {
                    System.err.println("usage: bench-backup [--dir DIR] [--size 2G] [--chunk-sizes 256K,1M,4M] "
                            + "[--level 3] [--threads N]");
                    System.exit(2);
                }
            }
        }
        b.run();
    }

    private void run() throws Exception {
        Path work = Files.createTempDirectory(dir, "bench-backup-");
        try {
            VolumeManager volumes = VolumeManager.open(work.resolve("state"), VolumeEvents.NONE);
            try {
                ManagedVolume vol = volumes.create(VolumeConfig.sparse("vol", size));
                long data = fill(vol, new Random(1), 1.0);
                ShadowCopyInfo copy = vol.createShadowCopy(ShadowCopyId.random(), true);
                ShadowCopyDevice dev = vol.shadowCopy(copy.id());
                System.out.printf("volume %s, %s of data (40%% random, 40%% text, 10%% zeros, 10%% never written), "
                        + "%d threads, zstd level %d%n", Sizes.format(size), Sizes.format(data), threads, level);
                double qemu = qemuImg(volumes, copy, work);
                for (int cs : chunkSizes) {
                    runChunkSize(work, volumes, vol, dev, copy, cs, qemu);
                }
            } finally {
                volumes.close();
            }
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    private double qemuImg(VolumeManager volumes, ShadowCopyInfo copy, Path work) throws Exception {
        Path socket = work.resolve("nbd.sock");
        try (NbdServer server = NbdServer.start(new VolumeExports(volumes), NbdServer.Config.unix(socket))) {
            Path out = work.resolve("qemu.qcow2");
            dropCaches();
            long t0 = System.nanoTime();
            Process p = new ProcessBuilder("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o",
                    "compression_type=zstd", "nbd+unix:///shadow/" + copy.id() + "?socket=" + socket, out.toString())
                    .inheritIO().start();
            if (p.waitFor() != 0) {
                throw new IOException("qemu-img convert failed");
            }
            double convert = (System.nanoTime() - t0) / 1e9;
            try (NativeFile f = NativeFile.open(out, OpenMode.READ_WRITE)) {
                f.sync();
            }
            double total = (System.nanoTime() - t0) / 1e9;
            System.out.printf("qemu-img convert -O qcow2 -c zstd: %.2f s (%.2f s before its fsync), %s%n", total,
                    convert, Sizes.format(Files.size(out)));
            Files.delete(out);
            return total;
        }
    }

    private void runChunkSize(Path work, VolumeManager volumes, ManagedVolume vol, ShadowCopyDevice dev,
                              ShadowCopyInfo copy, int cs, double qemu) throws Exception {
        Path repoDir = work.resolve("repo-" + cs);
        Repository repo = Repository.init(repoDir, new Repository.InitOptions(cs, level, null, 0));
        System.out.printf("%n== chunk size %s ==%n", Sizes.format(cs));
        dropCaches();
        BackupWriter.Result full = backup(repo, vol, dev, copy, true);
        double tf = secs(full);
        Manifest.VolumeEntry fe = full.manifest().volumes().getFirst();
        System.out.printf("full backup:        %.2f s, %s stored  -> %.2fx qemu-img (target >= 2)%n", tf,
                Sizes.format(fe.storedBytes()), qemu / tf);

        for (String pattern : List.of("1 MiB runs", "scattered 4 KiB")) {
            ShadowCopyInfo before = vol.createShadowCopy(ShadowCopyId.random(), true);
            BackupWriter.Result base = backup(repo, vol, vol.shadowCopy(before.id()), before, false);
            change(vol, pattern.startsWith("1") ? 1 << 20 : 4096, new Random(pattern.length() + cs));
            ShadowCopyInfo c2 = vol.createShadowCopy(ShadowCopyId.random(), true);
            dropCaches();
            BackupWriter.Result inc = backup(repo, vol, vol.shadowCopy(c2.id()), c2, false);
            Manifest.VolumeEntry ie = inc.manifest().volumes().getFirst();
            System.out.printf("incremental, 1%% changed in %-15s %.3f s, read %s -> %.2f%% of the full's time "
                    + "(target <= 3%%)%n", pattern + ":", secs(inc), Sizes.format(ie.bytesRead()), 100 * secs(inc) / tf);
            vol.deleteShadowCopy(before.id());
            vol.deleteShadowCopy(c2.id());
            if (!base.manifest().volumes().getFirst().mode().equals("incremental")) {
                throw new IllegalStateException("expected an incremental base");
            }
        }

        // Restore vs raw sequential writes of the same bytes to a new file, both fsync'd.
        Path target = work.resolve("restore.img");
        dropCaches();
        long t0 = System.nanoTime();
        try (FileDevice t = FileDevice.create(target, size)) {
            Restorer.restore(repo, full.manifest().id(), "vol", t, new Restorer.Options(true, false, threads,
                    Duration.ofMinutes(1)), Progress.NONE);
        }
        double tr = (System.nanoTime() - t0) / 1e9;
        Files.delete(target);
        double raw = rawWrite(work.resolve("raw.img"), fe.allocatedBytes());
        System.out.printf("restore:            %.2f s (%s written) vs raw write %.2f s -> %.2fx raw%n", tr,
                Sizes.format(fe.allocatedBytes()), raw, raw / tr);

        // A second volume, 90 % identical (a clone that diverged), into the same repository.
        ManagedVolume twin = volumes.create(VolumeConfig.sparse("twin-" + cs, size));
        fill(twin, new Random(1), 0.9);
        ShadowCopyInfo tc = twin.createShadowCopy(ShadowCopyId.random(), true);
        BackupWriter.Result tw = backup(repo, twin, twin.shadowCopy(tc.id()), tc, false);
        Manifest.VolumeEntry te = tw.manifest().volumes().getFirst();
        System.out.printf("similar volume:     %s of data, %s new chunks stored -> dedup %.1f:1 (%.0f%% of its "
                + "data already in the repository)%n", Sizes.format(te.allocatedBytes()),
                Sizes.format(te.storedBytes()), te.allocatedBytes() / (double) Math.max(1, te.storedBytes()),
                100.0 * (te.chunks() - te.zeroChunks() - te.newChunks()) / Math.max(1, te.chunks() - te.zeroChunks()));
        twin.deleteShadowCopy(tc.id());
        volumes.delete("twin-" + cs, true);
    }

    private BackupWriter.Result backup(Repository repo, ManagedVolume vol, ShadowCopyDevice dev, ShadowCopyInfo copy,
                                       boolean full) throws IOException {
        return BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource(vol.name(), vol.id().toString(),
                copy.id().toString(), copy.sequence(), dev, dev::mapChangesSince)), copy.created(), "set", "backup",
                "crash-consistent", List.of(), Map.of(), "bench", null, full, threads, Duration.ofMinutes(1)),
                Progress.NONE);
    }

    private static double secs(BackupWriter.Result r) {
        return r.elapsed().toNanos() / 1e9;
    }

    /**
     * Fills a volume region by region (1 MiB): 40 % random, 40 % log-like text, 10 % written zeros, 10 % never
     * written. {@code same} is the share of regions whose content is the same as with {@code same = 1} (the rest
     * get other random data). Returns bytes written.
     */
    private long fill(ManagedVolume vol, Random r, double same) throws IOException {
        int region = 1 << 20;
        long written = 0;
        Random other = new Random(99);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(region, 4096);
            byte[] b = new byte[region];
            for (long off = 0; off < vol.size(); off += region) {
                int kind = r.nextInt(10);
                long seed = r.nextLong();
                boolean diverge = other.nextDouble() >= same;
                Random content = new Random(diverge ? seed ^ 0x5DEECE66DL : seed);
                if (kind == 9) {
                    continue;
                }
                if (kind == 8) {
                    java.util.Arrays.fill(b, (byte) 0);
                } else if (kind < 4) {
                    content.nextBytes(b);
                } else {
                    text(b, content);
                }
                MemorySegment.copy(b, 0, buf, ValueLayout.JAVA_BYTE, 0, region);
                vol.write(off, buf, false);
                written += region;
            }
        }
        vol.flush();
        return written;
    }

    private static void text(byte[] b, Random r) {
        String[] words = {"GET", "POST", "/api/v1/items", "200", "404", "user", "session", "INFO", "WARN", "request",
            "completed", "in", "ms", "backend=db1", "cache", "miss", "hit", "2026-11-25T07:00:00Z"};
        int p = 0;
        StringBuilder line = new StringBuilder();
        while (p < b.length) {
            line.setLength(0);
            line.append(r.nextInt(1_000_000)).append(' ');
            for (int i = 0; i < 8; i++) {
                line.append(words[r.nextInt(words.length)]).append(' ');
            }
            line.append(r.nextInt(5000)).append('\n');
            byte[] l = line.toString().getBytes(StandardCharsets.US_ASCII);
            int n = Math.min(l.length, b.length - p);
            System.arraycopy(l, 0, b, p, n);
            p += n;
        }
    }

    /** Writes 1 % of the volume with new random data in runs of {@code run} bytes at 4 KiB-aligned positions. */
    private void change(ManagedVolume vol, int run, Random r) throws IOException {
        long target = vol.size() / 100;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(run, 4096);
            byte[] b = new byte[run];
            for (long done = 0; done < target; done += run) {
                r.nextBytes(b);
                MemorySegment.copy(b, 0, buf, ValueLayout.JAVA_BYTE, 0, run);
                long off = (long) (r.nextDouble() * (vol.size() - run)) / 4096 * 4096;
                vol.write(off, buf, false);
            }
        }
        vol.flush();
    }

    private static double rawWrite(Path file, long bytes) throws IOException {
        long t0 = System.nanoTime();
        try (NativeFile f = NativeFile.open(file, OpenMode.CREATE_NEW); Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(1 << 20, 4096);
            buf.fill((byte) 0x5a);
            for (long off = 0; off < bytes; off += buf.byteSize()) {
                f.write(off, buf.asSlice(0, Math.min(buf.byteSize(), bytes - off)));
            }
            f.sync();
        }
        double t = (System.nanoTime() - t0) / 1e9;
        Files.delete(file);
        return t;
    }

    /** Starts each measured step with data on disk and not in the page cache (best effort, needs root). */
    private static void dropCaches() {
        try {
            new ProcessBuilder("sync").inheritIO().start().waitFor();
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "1");
        } catch (IOException | InterruptedException | SecurityException e) {
            // not root: measure with what the cache holds
        }
    }
}
