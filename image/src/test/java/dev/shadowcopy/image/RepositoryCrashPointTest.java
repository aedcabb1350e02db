package dev.shadowcopy.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Pruner;
import dev.shadowcopy.image.maintenance.Retention;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.testing.MemoryDevice;
import dev.shadowcopy.testing.SimulatedStorage;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The repository on the simulated disk of the engine's crash tests (STYLE 17): for each operation that changes it —
 * a full backup, an incremental one, a prune, a delete, a garbage collection, the writers' final states — fail the
 * N-th storage operation inside it for every N, then lose power (unsynced sectors survive at random; several seeds),
 * reopen, and check: every backup point that was reported complete and not deleted since is there and restores
 * byte-exact; every point the repository lists restores byte-exact to what was backed up under its label (nothing
 * half-made is claimed); verify finds no damage; garbage collection leaves no partial directory; the next backup
 * works. The systematic counterpart of the kill -9 {@link RepositoryCrashTest}.
 */
class RepositoryCrashPointTest {
    private static final int SEEDS = 3;
    private static final int CHUNK = 4096;
    private static final int SIZE = 11 * CHUNK + 1000; // not a multiple of the chunk
    private static final Path ROOT = Path.of("/repo");
    private static final Duration WAIT = Duration.ofSeconds(5);

    /** One step of a scenario. */
    sealed interface Op permits Backup, Prune, Delete, Gc, RecordWriters {}

    /** Rewrites chunks {@code from..to} of the volume with {@code pattern}, then backs it up. */
    record Backup(int from, int to, int pattern) implements Op {}

    /** Keeps the newest {@code keep} points, then collects garbage. */
    record Prune(int keep) implements Op {}

    /** Deletes the {@code index}-th of the points reported complete (oldest first). */
    record Delete(int index) implements Op {}

    record Gc() implements Op {}

    /** Replaces the writers' final states in the newest point's manifest (after BackupComplete). */
    record RecordWriters() implements Op {}

    static Stream<Arguments> scenarios() {
        List<Op> two = List.of(new Backup(0, 10, 1), new Backup(2, 4, 2));
        return Stream.of(
                Arguments.of("first, full backup", List.of(), new Backup(0, 11, 1)),
                Arguments.of("incremental backup sharing chunks", List.of(new Backup(0, 11, 1)), new Backup(3, 6, 2)),
                Arguments.of("backup of an unchanged volume", List.of(new Backup(0, 11, 1)), new Backup(0, 0, 1)),
                Arguments.of("prune with garbage collection", cat(two, new Backup(5, 9, 3)), new Prune(1)),
                Arguments.of("delete the older point", two, new Delete(0)),
                Arguments.of("garbage collection after a delete", cat(two, new Delete(0)), new Gc()),
                Arguments.of("writers' final states", two, new RecordWriters()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scenarios")
    void everyFaultPointLeavesOnlyWholeBackupPoints(String name, List<Op> prefix, Op victim) throws Exception {
        Run probe = new Run(1);
        probe.run(prefix);
        long before = probe.disk.operations();
        probe.apply(victim);
        long points = probe.disk.operations() - before;
        assertTrue(points > 0, name + ": the operation did no storage I/O, so no fault point was tested");
        int faults = 0;
        for (int n = 1; n <= points; n++) {
            for (int seed = 0; seed < SEEDS; seed++) {
                Run run = new Run(1000L * n + seed);
                try {
                    run.run(prefix);
                    run.disk.failAt(n);
                    try {
                        run.apply(victim);
                    } catch (IOException expected) {
                        // the injected fault (or what it caused): the operation was not reported complete
                    }
                    faults += run.disk.faultFired() ? 1 : 0;
                    run.disk.crash();
                    run.check();
                } catch (AssertionError | IOException | RuntimeException e) {
                    throw new AssertionError(name + ": fault at storage operation " + n + " of " + points
                            + ", crash seed " + seed + " (" + run.disk.faults() + " fault fired): " + e.getMessage(), e);
                }
            }
        }
        System.out.println("repository crash points: " + name + ": " + points + " storage operations, "
                + points * SEEDS + " crashes, " + faults + " injected faults fired");
        assertEquals(points * SEEDS, faults, "every fault point was reached");
    }

    /** A repository on a simulated disk, a volume, and what was reported complete. */
    private static final class Run {
        final SimulatedStorage disk;
        final byte[] volume = new byte[SIZE];
        /** Label → the volume's bytes it was taken from (every attempt, complete or not). */
        final Map<String, byte[]> attempted = new HashMap<>();
        /** Backup ids reported complete, oldest first, with their labels; deleted ones are taken out. */
        final List<String> complete = new ArrayList<>();
        final Map<String, String> labelOf = new HashMap<>();
        /** Ids an interrupted prune or delete may or may not have removed. */
        final Set<String> mayBeGone = new HashSet<>();
        Repository repo;
        int attempts;
        Instant clock = Instant.parse("2026-01-01T00:00:00Z");

        Run(long seed) throws IOException {
            disk = new SimulatedStorage(seed);
            repo = Repository.init(disk, ROOT, new Repository.InitOptions(CHUNK, 1, null, 0));
        }

        void run(List<Op> ops) throws IOException {
            for (Op op : ops) {
                apply(op);
            }
        }

        void apply(Op op) throws IOException {
            switch (op) {
                case Backup b -> backup(b);
                case Prune p -> {
                    mayBeGone.addAll(complete.subList(0, Math.max(0, complete.size() - p.keep())));
                    Pruner.prune(repo, new Retention(p.keep(), 0, 0, 0, ZoneOffset.UTC), false, true, WAIT);
                    complete.subList(0, Math.max(0, complete.size() - p.keep())).clear();
                }
                case Delete d -> {
                    String id = complete.get(d.index());
                    mayBeGone.add(id);
                    BackupStore.of(repo).delete(id);
                    complete.remove(id);
                }
                case Gc g -> GarbageCollector.collect(repo, WAIT);
                case RecordWriters w -> {
                    String id = complete.getLast();
                    BackupStore.of(repo).recordWriters(id, List.of(new Manifest.WriterEntry("db", "builtin",
                            "stable", "none", null, "<writer-metadata name=\"db\"/>")));
                }
            }
        }

        private void backup(Backup b) throws IOException {
            byte[] data = new byte[CHUNK];
            for (int c = b.from(); c < b.to(); c++) {
                new Random(b.pattern() * 1000L + c).nextBytes(data); // every chunk different: no accidental sharing
                int off = c * CHUNK;
                System.arraycopy(data, 0, volume, off, Math.min(CHUNK, SIZE - off));
            }
            String label = "attempt " + ++attempts;
            attempted.put(label, volume.clone());
            clock = clock.plusSeconds(60);
            MemoryDevice source = new MemoryDevice(volume.clone(), true);
            BackupWriter.Result r = BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource("v",
                    "vol", "copy-" + attempts, attempts, source, null)), clock, "set", "backup", "crash-consistent",
                    List.of(), Map.of(), "host", label, false, 1, WAIT), Progress.NONE);
            complete.add(r.manifest().id());
            labelOf.put(r.manifest().id(), label);
        }

        /** After the crash: reopen and hold the repository to what it claims. */
        void check() throws IOException {
            repo = Repository.open(disk, ROOT, null);
            BackupStore store = BackupStore.of(repo);
            List<String> listed = store.ids();
            for (String id : complete) {
                assertTrue(listed.contains(id) || mayBeGone.contains(id), "backup " + id + " was reported complete "
                        + "and is gone: " + listed);
            }
            for (String id : listed) {
                Manifest m = store.manifest(id);
                byte[] expected = attempted.get(m.label());
                assertTrue(expected != null, "backup " + id + " is listed but was never attempted (" + m.label() + ")");
                assertTrue(complete.contains(id) || mayBeGone.contains(id) || !labelOf.containsKey(id),
                        "backup " + id + " was deleted and is back");
                MemoryDevice target = new MemoryDevice(new byte[(int) m.volume("v").size()], false);
                Restorer.restore(repo, id, "v", target, new Restorer.Options(true, false, 1, WAIT), Progress.NONE);
                assertArrayEquals(expected, target.data(), "backup " + id + " (" + m.label() + ") restores exactly");
            }
            Verifier.Report rep = Verifier.verify(repo, null, 1, WAIT, Progress.NONE);
            assertTrue(rep.ok(), "verify after the crash: " + rep.damaged() + " " + rep.damagedBackups());
            GarbageCollector.collect(repo, WAIT);
            assertEquals(List.of(), store.uncommitted(), "garbage collection leaves no partial backup directory");
            assertEquals(List.of(), disk.list(repo.tmpDir()), "nor anything in tmp/");
            complete.retainAll(listed);
            backup(new Backup(0, 1, 99)); // the repository takes the next backup
            assertTrue(store.ids().contains(complete.getLast()));
        }
    }

    private static List<Op> cat(List<Op> a, Op... more) {
        List<Op> out = new ArrayList<>(a);
        out.addAll(List.of(more));
        return out;
    }
}
