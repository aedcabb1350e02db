package dev.shadowcopy.image;

import dev.shadowcopy.image.manifest.BackupStore;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.ChangeTracker;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Pruner;
import dev.shadowcopy.image.maintenance.Retention;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Keys;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.RepositoryDevice;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.volume.FileDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * Random sequences of volume writes (large, and small ones whose chunks incrementals store as patches over earlier
 * chunks), backups (full, incremental from exact or over-reported change maps, rescans when tracking "fails"), prunes and garbage collections against an in-memory model: every backup point
 * that remains restores to exactly the bytes the volume had when it was taken, through the restorer and through
 * {@link RepositoryDevice}, and verify finds nothing wrong.
 */
class RepositoryProperties {
    static final int TRACK = 4096; // granularity of the simulated change tracking

    sealed interface Op permits Write, Zero, Backup, Prune, Gc {}

    record Write(int offset, int length, int pattern) implements Op {}

    record Zero(int offset, int length) implements Op {}

    /** tracking: 0 exact, 1 over-reporting, 2 unavailable (the backup must rescan). */
    record Backup(boolean full, int tracking) implements Op {}

    record Prune(int keepLast) implements Op {}

    record Gc() implements Op {}

    @Provide
    Arbitrary<List<Op>> ops() {
        // large writes change whole chunks; small ones leave chunks changed in few places, stored as patches
        Arbitrary<Op> write = Combinators.combine(Arbitraries.integers().between(0, 200_000),
                Arbitraries.oneOf(Arbitraries.integers().between(1, 40_000), Arbitraries.integers().between(1, 600)),
                Arbitraries.integers().between(0, 5)).as(Write::new);
        Arbitrary<Op> zero = Combinators.combine(Arbitraries.integers().between(0, 200_000),
                Arbitraries.integers().between(1, 40_000)).as(Zero::new);
        Arbitrary<Op> backup = Combinators.combine(Arbitraries.of(true, false, false, false),
                Arbitraries.of(0, 0, 1, 2)).as(Backup::new);
        Arbitrary<Op> prune = Arbitraries.integers().between(1, 3).map(Prune::new);
        Arbitrary<Op> gc = Arbitraries.just(new Gc());
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(6, write), net.jqwik.api.Tuple.of(2, zero),
                net.jqwik.api.Tuple.of(4, backup), net.jqwik.api.Tuple.of(1, prune), net.jqwik.api.Tuple.of(1, gc))
                .list().ofMinSize(1).ofMaxSize(25);
    }

    @Property(tries = 60, edgeCases = net.jqwik.api.EdgeCasesMode.MIXIN)
    void everyRemainingBackupRestoresExactly(@ForAll("ops") List<Op> ops,
                                             @ForAll @IntRange(min = 0, max = 2) int chunkChoice,
                                             @ForAll boolean encrypted) throws IOException {
        int chunk = new int[] {4096, 16384, 65536}[chunkChoice];
        int size = 180_000 + 4096 * 5 + 123; // not a multiple of any chunk size
        Path dir = Files.createTempDirectory("repo-prop");
        try {
            Repository repo = Repository.init(dir.resolve("repo"), new Repository.InitOptions(chunk, 1,
                    encrypted ? "secret".toCharArray() : null, 1000));
            Path vol = dir.resolve("volume.img");
            byte[] model = new byte[size];
            int[] epochOf = new int[(size + TRACK - 1) / TRACK];
            int epoch = 1;
            Map<String, byte[]> expected = new HashMap<>();
            List<String> order = new ArrayList<>();
            Instant clock = Instant.parse("2026-01-01T00:00:00Z");
            try (FileDevice dev = FileDevice.create(vol, size); Arena arena = Arena.ofConfined()) {
                for (Op op : ops) {
                    switch (op) {
                        case Write w -> {
                            int off = Math.min(w.offset(), size - 1);
                            int len = Math.min(w.length(), size - off);
                            byte[] data = pattern(w.pattern(), off, len);
                            System.arraycopy(data, 0, model, off, len);
                            MemorySegment seg = arena.allocate(len);
                            MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, len);
                            dev.write(off, seg, false);
                            touch(epochOf, off, len, epoch);
                        }
                        case Zero z -> {
                            int off = Math.min(z.offset(), size - 1);
                            int len = Math.min(z.length(), size - off);
                            Arrays.fill(model, off, off + len, (byte) 0);
                            dev.writeZeroes(off, len, true, false);
                            touch(epochOf, off, len, epoch);
                        }
                        case Backup b -> {
                            int seq = epoch++;
                            int[] snapshot = epochOf.clone();
                            ChangeTracker tracker = switch (b.tracking()) {
                                case 0 -> (since, o, l, v) -> report(snapshot, since, size, v, false);
                                case 1 -> (since, o, l, v) -> report(snapshot, since, size, v, true);
                                default -> (since, o, l, v) -> {
                                    throw new IOException("tracking restarted");
                                };
                            };
                            clock = clock.plus(Duration.ofHours(7));
                            var res = BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource("v",
                                    "id-1", "copy-" + seq, seq, dev, tracker)), clock, "set", "backup",
                                    "crash-consistent", List.of(), Map.of(), "host", null, b.full(), 2,
                                    Duration.ofSeconds(5)), Progress.NONE);
                            expected.put(res.manifest().id(), model.clone());
                            order.add(res.manifest().id());
                        }
                        case Prune p -> {
                            Pruner.prune(repo, new Retention(p.keepLast(), 0, 0, 0, ZoneOffset.UTC), false, true,
                                    Duration.ofSeconds(5));
                            List<String> ids = BackupStore.of(repo).ids();
                            expected.keySet().retainAll(ids);
                            assertEquals(Math.min(p.keepLast(), order.stream().filter(ids::contains).count()),
                                    ids.size());
                        }
                        case Gc g -> GarbageCollector.collect(repo, Duration.ofSeconds(5));
                    }
                }
            }
            assertEquals(expected.keySet().stream().sorted().toList(), BackupStore.of(repo).ids());
            Repository reopened = Repository.open(dir.resolve("repo"), encrypted ? "secret".toCharArray() : null);
            for (Map.Entry<String, byte[]> e : expected.entrySet()) {
                Path out = dir.resolve("restore-" + e.getKey());
                try (FileDevice target = FileDevice.create(out, size)) {
                    Restorer.restore(reopened, e.getKey(), "v", target, new Restorer.Options(true, true, 2,
                            Duration.ofSeconds(5)), Progress.NONE);
                }
                assertArrayEquals(e.getValue(), Files.readAllBytes(out), "restore of " + e.getKey());
                Manifest m = BackupStore.of(reopened).manifest(e.getKey());
                RepositoryDevice rd = new RepositoryDevice(reopened, m, m.volume("v"));
                try (Arena arena = Arena.ofConfined()) {
                    int off = size / 3;
                    MemorySegment seg = arena.allocate(size - off);
                    rd.read(off, seg);
                    assertArrayEquals(Arrays.copyOfRange(e.getValue(), off, size), seg.toArray(ValueLayout.JAVA_BYTE));
                }
            }
            Verifier.Report r = Verifier.verify(reopened, null, 2, Duration.ofSeconds(5), Progress.NONE);
            assertTrue(r.ok(), () -> "verify: " + r.damagedBackups());
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    static void touch(int[] epochOf, int off, int len, int epoch) {
        for (int t = off / TRACK; t <= (off + len - 1) / TRACK; t++) {
            epochOf[t] = epoch;
        }
    }

    static void report(int[] epochOf, int since, int size, dev.shadowcopy.device.BlockDevice.ExtentVisitor v,
                       boolean over) throws IOException {
        Random r = new Random(since);
        for (int t = 0; t < epochOf.length; t++) {
            boolean changed = epochOf[t] > since || over && r.nextInt(4) == 0;
            long off = (long) t * TRACK;
            v.extent(off, Math.min(TRACK, size - off), changed ? 1 : 0);
        }
    }

    /** Patterns 0-2 repeat (so chunks deduplicate), 3-5 are unique to their offset. */
    static byte[] pattern(int p, int off, int len) {
        byte[] b = new byte[len];
        if (p < 3) {
            for (int i = 0; i < len; i++) {
                b[i] = (byte) ((off + i) % 4096 * (p + 1) + p);
            }
        } else {
            new Random(off * 31L + p).nextBytes(b);
        }
        return b;
    }
}
