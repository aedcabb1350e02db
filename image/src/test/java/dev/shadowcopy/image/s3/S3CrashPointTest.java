package dev.shadowcopy.image.s3;

import static dev.shadowcopy.image.s3.S3Fixture.assertRestores;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Pruner;
import dev.shadowcopy.image.maintenance.Retention;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The repository on a real S3 server whose client dies at the N-th request (nothing is sent from there on: the
 * process was killed) while answers to other requests are lost at random (the SDK retries them: every request must be
 * idempotent). The scenario is a full backup, an incremental after a change, and a prune with its collection; for
 * crash points spread over all of its requests ({@code -Dshadowcopy.s3.crash.points=N}, default 24): every point
 * reported complete and not pruned is there, every listed point restores byte for byte to what was backed up under
 * its id, verify is clean, a collection by the next process (once the dead one's leases have gone) leaves it clean,
 * and the next backup works. The seed of the lost answers is printed.
 */
class S3CrashPointTest {
    static final long SIZE = 1024 * 1024 + 4096;
    static final Duration WAIT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    @BeforeAll
    static void fastRetries() throws Exception {
        S3Server.shared();
        System.setProperty("shadowcopy.s3.attempts", "4");
        System.setProperty("shadowcopy.s3.backoff-ms", "1");
    }

    @AfterAll
    static void normalRetries() {
        System.clearProperty("shadowcopy.s3.attempts");
        System.clearProperty("shadowcopy.s3.backoff-ms");
    }

    /** What a run left: the points it was told are complete (id → volume image) and those it pruned. */
    record Outcome(Map<String, Path> complete, Set<String> pruned) {}

    Outcome scenario(Repository repo, Path work) throws IOException {
        Map<String, Path> complete = new HashMap<>();
        Set<String> pruned = new HashSet<>();
        Outcome out = new Outcome(complete, pruned);
        Path vol = S3Fixture.volume(work.resolve("v.img"), SIZE, 21);
        Manifest a = S3Fixture.backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z"));
        complete.put(a.id(), Files.copy(vol, work.resolve(a.id() + ".img")));
        S3Fixture.change(vol, 22);
        Manifest b = S3Fixture.backup(repo, vol, "alpha", Instant.parse("2026-01-02T00:00:00Z"));
        complete.put(b.id(), Files.copy(vol, work.resolve(b.id() + ".img")));
        Pruner.Result p = Pruner.prune(repo, new Retention(1, 0, 0, 0, ZoneOffset.UTC), false, true, WAIT);
        p.decisions().stream().filter(d -> !d.keep()).forEach(d -> pruned.add(d.id()));
        return out;
    }

    @Test
    void aClientKilledAtAnyRequestLeavesARepositoryThatRestoresVerifiesAndGoesOn() throws Exception {
        long seed = Long.getLong("shadowcopy.s3.crash.seed", System.nanoTime());
        System.out.println("S3CrashPointTest seed " + seed + " (-Dshadowcopy.s3.crash.seed=" + seed + ")");
        // how many requests the whole scenario makes
        String probe = S3Server.shared().freshLocation("probe");
        RepositoryLocation.parse(probe).init(new Repository.InitOptions(S3Fixture.CHUNK, 1, null, 0)).close();
        FaultyHttpClient[] f = new FaultyHttpClient[1];
        long total;
        try (Repository repo = S3Fixture.open(probe, null, f, seed)) {
            long before = f[0].requests();
            scenario(repo, Files.createDirectories(dir.resolve("probe")));
            total = f[0].requests() - before;
        }
        int points = Integer.getInteger("shadowcopy.s3.crash.points", 24);
        int crashes = 0;
        for (int i = 1; i <= points; i++) {
            long n = Math.max(1, i * total / points);
            String loc = S3Server.shared().freshLocation("crash" + n);
            RepositoryLocation.parse(loc).init(new Repository.InitOptions(S3Fixture.CHUNK, 1, null, 0)).close();
            Path work = Files.createDirectories(dir.resolve("n" + n));
            Outcome seen = new Outcome(new HashMap<>(), new HashSet<>());
            Repository dying = S3Fixture.open(loc, null, f, seed + n);
            f[0].dropRate = 0.03;
            f[0].crashAt = f[0].requests() + n;
            try {
                seen = scenario(dying, work);
            } catch (IOException expected) {
                crashes++;
                seen = partial(work);
            }
            try {
                dying.close();
            } catch (IOException dead) {
                // its lease cannot be removed: it goes stale
            }
            check(loc, seen, work, "crash at request " + n + " of " + total + " (seed " + seed + ")");
        }
        assertTrue(crashes >= points - 2, "the crash points fell inside the scenario: " + crashes);
    }

    /** After a crash, the points the scenario had been told complete: their images are in the work directory. */
    static Outcome partial(Path work) throws IOException {
        Map<String, Path> complete = new HashMap<>();
        try (var s = Files.list(work)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.endsWith(".img") && BackupStore.validId(n.substring(0, n.length() - 4))) {
                    complete.put(n.substring(0, n.length() - 4), p);
                }
            }
        }
        return new Outcome(complete, new HashSet<>());
    }

    void check(String loc, Outcome seen, Path work, String where) throws Exception {
        try (Repository repo = S3Fixture.open(loc, null, null, 0)) {
            for (var o : repo.backend().listTree("leases/")) { // the dead process's leases: as if gone stale
                repo.backend().delete(o.key());
            }
            var ids = BackupStore.of(repo).ids();
            for (var e : seen.complete().entrySet()) {
                if (!seen.pruned().contains(e.getKey())) {
                    assertTrue(ids.contains(e.getKey()) || pruneMayHaveRun(seen, ids), where + ": point " + e.getKey()
                            + " was reported complete and is listed");
                }
            }
            for (String id : ids) {
                Path image = work.resolve(id + ".img");
                if (Files.exists(image)) {
                    assertRestores(repo, id, image, work);
                }
            }
            assertTrue(Verifier.verify(repo, null, 2, WAIT, Progress.NONE).ok(), where + ": verify is clean");
            GarbageCollector.Result gc = GarbageCollector.collect(repo, WAIT);
            assertNull(gc.pending(), where + ": nothing left to wait for: " + gc);
            assertEquals(0, BackupStore.of(repo).uncommitted().size(), where + ": no partial backup left");
            assertTrue(Verifier.verify(repo, null, 2, WAIT, Progress.NONE).ok(), where + ": clean after gc");
            for (String id : BackupStore.of(repo).ids()) {
                Path image = work.resolve(id + ".img");
                if (Files.exists(image)) {
                    assertRestores(repo, id, image, work);
                }
            }
            Path vol = S3Fixture.volume(work.resolve("next.img"), SIZE, 23);
            Manifest next = S3Fixture.backup(repo, vol, "alpha", Instant.parse("2026-01-03T00:00:00Z"));
            assertRestores(repo, next.id(), vol, work);
        }
    }

    /** A prune cut short may have deleted the older point although the run never learnt the prune's result. */
    private static boolean pruneMayHaveRun(Outcome seen, java.util.List<String> ids) {
        return seen.complete().size() == 2 && ids.size() == 1;
    }
}
