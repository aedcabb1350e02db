package dev.shadowcopy.bench;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryBackend;
import dev.shadowcopy.image.repository.s3.S3Backend;
import dev.shadowcopy.image.repository.s3.S3Clients;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.platform.NativeFile;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.FileDevice;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * {@code bin/bench-backup --repo s3://BUCKET/PREFIX}: backup and restore speed to object storage next to a local
 * directory, in the same run, from the same shadow copy: a full backup, an incremental after 1 % changed (1 MiB runs),
 * and a restore to a new file (fsync'd). For S3 also the requests and bytes sent. The S3 repository is made under a
 * fresh prefix below the one given and its objects removed at the end.
 * Options: {@code --repo s3://…} (required), {@code --dir DIR} (default /var/tmp), {@code --size 1G},
 * {@code --chunk-size 4M}, {@code --threads N}.
 */
public final class ObjectStoreBench {
    private Path dir = Path.of("/var/tmp");
    private long size = 1L << 30;
    private int chunkSize = RepositoryLocation.OBJECT_STORE_CHUNK_SIZE;
    private int threads = Runtime.getRuntime().availableProcessors();
    private String repo;

    public static void main(String[] args) throws Exception {
        ObjectStoreBench b = new ObjectStoreBench();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--repo" -> b.repo = args[++i];
                case "--dir" -> b.dir = Path.of(args[++i]);
                case "--size" -> b.size = Sizes.parse(args[++i]);
                case "--chunk-size" -> b.chunkSize = (int) Sizes.parse(args[++i]);
                case "--threads" -> b.threads = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench-backup --repo s3://BUCKET/PREFIX [--dir DIR] [--size 1G] "
                            + "[--chunk-size 4M] [--threads N]");
                    System.exit(2);
                }
            }
        }
        if (b.repo == null || !b.repo.startsWith("s3://")) {
            System.err.println("bench-backup --repo needs s3://BUCKET/PREFIX (the local directory is measured beside it)");
            System.exit(2);
        }
        b.run();
    }

    private record Figures(double full, long stored, double incremental, double restore, String requests) {}

    private void run() throws Exception {
        Path work = Files.createTempDirectory(dir, "bench-s3-");
        try {
            VolumeManager volumes = VolumeManager.open(work.resolve("state"), VolumeEvents.NONE);
            try {
                ManagedVolume vol = volumes.create(VolumeConfig.sparse("vol", size));
                long data = fill(vol, new Random(1));
                System.out.printf("volume %s, %s of data (half random, half text), chunks of %s, %d threads, S3 at %s%n",
                        Sizes.format(size), Sizes.format(data), Sizes.format(chunkSize), threads,
                        S3Clients.endpoint() != null ? S3Clients.endpoint() : "AWS");
                String s3 = repo.replaceAll("/+$", "") + "/bench-" + Long.toHexString(System.nanoTime());
                Figures local = measure(vol, RepositoryLocation.parse(work.resolve("repo").toString()), work, data);
                Figures remote = measure(vol, RepositoryLocation.parse(s3), work, data);
                System.out.printf("%n%-44s %20s %14s %20s%n", "repository", "full backup", "incremental 1%", "restore");
                print(work.resolve("repo").toString(), local, data);
                print(s3, remote, data);
                System.out.println("S3 requests: " + remote.requests());
                cleanUp(RepositoryLocation.parse(s3));
            } finally {
                volumes.close();
            }
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void print(String name, Figures f, long data) {
        System.out.printf("%-44s %6.2f s %6.0f MB/s %12.3f s %6.2f s %6.0f MB/s%n", name.length() > 44
                ? "…" + name.substring(name.length() - 43) : name, f.full(), data / f.full() / 1e6, f.incremental(),
                f.restore(), data / f.restore() / 1e6);
    }

    private Figures measure(ManagedVolume vol, RepositoryLocation loc, Path work, long data) throws Exception {
        try (Repository repo = loc.init(new Repository.InitOptions(chunkSize, Repository.DEFAULT_LEVEL, null, 0))) {
            ShadowCopyInfo c1 = vol.createShadowCopy(ShadowCopyId.random(), true);
            BackupWriter.Result full = backup(repo, vol, c1, true);
            change(vol, new Random(7));
            ShadowCopyInfo c2 = vol.createShadowCopy(ShadowCopyId.random(), true);
            BackupWriter.Result inc = backup(repo, vol, c2, false);
            vol.deleteShadowCopy(c1.id());
            vol.deleteShadowCopy(c2.id());
            Path target = work.resolve("restore.img");
            long t0 = System.nanoTime();
            try (FileDevice t = FileDevice.create(target, size)) {
                Restorer.restore(repo, full.manifest().id(), "vol", t, new Restorer.Options(true, false, threads,
                        Duration.ofMinutes(1)), Progress.NONE);
            }
            try (NativeFile f = NativeFile.open(target, OpenMode.READ_WRITE)) {
                f.sync();
            }
            double tr = (System.nanoTime() - t0) / 1e9;
            Files.delete(target);
            String requests = repo.backend() instanceof S3Backend s ? s.counters().putObjects() + " PUTs, "
                    + Sizes.format(s.counters().putBytes()) + " sent" : "";
            return new Figures(secs(full), full.manifest().volumes().getFirst().storedBytes(), secs(inc), tr, requests);
        }
    }

    private BackupWriter.Result backup(Repository repo, ManagedVolume vol, ShadowCopyInfo copy, boolean full)
            throws IOException {
        var dev = vol.shadowCopy(copy.id());
        return BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource(vol.name(), vol.id().toString(),
                copy.id().toString(), copy.sequence(), dev, dev::mapChangesSince)), copy.created(), "set", "backup",
                "crash-consistent", List.of(), Map.of(), "bench", null, full, threads, Duration.ofMinutes(1)),
                Progress.NONE);
    }

    private static double secs(BackupWriter.Result r) {
        return r.elapsed().toNanos() / 1e9;
    }

    /** Removes every object of the benchmark's repository. */
    private static void cleanUp(RepositoryLocation loc) throws IOException {
        try (RepositoryBackend b = loc.backend(false)) {
            for (var o : b.listTree("")) {
                b.delete(o.key());
            }
        }
    }

    /** 1 MiB regions: half random, half log-like text, one in ten never written. Returns bytes written. */
    private static long fill(ManagedVolume vol, Random r) throws IOException {
        int region = 1 << 20;
        long written = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(region, 4096);
            byte[] b = new byte[region];
            for (long off = 0; off < vol.size(); off += region) {
                int kind = r.nextInt(10);
                if (kind == 9) {
                    continue;
                }
                if (kind < 5) {
                    r.nextBytes(b);
                } else {
                    for (int i = 0; i < region; i++) {
                        b[i] = (byte) ("INFO GET /api/v1/items 200 in 12 ms\n".charAt(i % 36) + (i / 4096 + kind) % 3);
                    }
                }
                MemorySegment.copy(b, 0, buf, ValueLayout.JAVA_BYTE, 0, region);
                vol.write(off, buf, false);
                written += region;
            }
        }
        vol.flush();
        return written;
    }

    /** Writes 1 % of the volume with new random data in 1 MiB runs. */
    private static void change(ManagedVolume vol, Random r) throws IOException {
        int run = 1 << 20;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(run, 4096);
            byte[] b = new byte[run];
            for (long done = 0; done < vol.size() / 100; done += run) {
                r.nextBytes(b);
                MemorySegment.copy(b, 0, buf, ValueLayout.JAVA_BYTE, 0, run);
                vol.write((long) (r.nextDouble() * (vol.size() - run)) / 4096 * 4096, buf, false);
            }
        }
        vol.flush();
    }
}
