package dev.shadowcopy.image.s3;

import static dev.shadowcopy.image.s3.S3Fixture.assertRestores;
import static dev.shadowcopy.image.s3.S3Fixture.backup;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The race cases of garbage collection without a lock (docs/backup.md, "Many hosts, one repository"), each forced
 * on a real S3 server: a backup is held at a chosen point (its progress callback blocks) while a collection runs.
 * Every actor has its own repository object and client, as separate hosts would.
 */
class LockFreeGcTest {
    static final long SIZE = 2 * 1024 * 1024;
    static final Duration WAIT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    @BeforeAll
    static void server() throws Exception {
        S3Server.shared();
    }

    String fresh(String name) throws Exception {
        String loc = S3Server.shared().freshLocation(name);
        RepositoryLocation.parse(loc).init(new Repository.InitOptions(S3Fixture.CHUNK, 1, null, 0)).close();
        return loc;
    }

    static Repository open(String loc) throws Exception {
        return RepositoryLocation.parse(loc).open(null);
    }

    /** A backup on its own repository object, held in its progress callback at {@code done == holdAt}. */
    static final class HeldBackup {
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final CompletableFuture<Manifest> result;

        HeldBackup(String loc, Path volume, String host, boolean holdAtEnd) {
            result = CompletableFuture.supplyAsync(() -> {
                try (Repository repo = open(loc)) {
                    Progress hold = (phase, done, total) -> {
                        if (reached.getCount() > 0 && (holdAtEnd ? done == total && total > 0 : true)) {
                            reached.countDown();
                            try {
                                release.await(60, TimeUnit.SECONDS);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                    };
                    return backup(repo, volume, host, Instant.now(), hold);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
        }

        HeldBackup awaitHeld() throws Exception {
            assertTrue(reached.await(60, TimeUnit.SECONDS), "the backup reached its hold point");
            return this;
        }

        Manifest finish() throws Exception {
            release.countDown();
            return result.get(60, TimeUnit.SECONDS);
        }
    }

    static GarbageCollector.Result gc(String loc) throws Exception {
        try (Repository repo = open(loc)) {
            return GarbageCollector.collect(repo, WAIT);
        }
    }

    static void verifyClean(String loc) throws Exception {
        try (Repository repo = open(loc)) {
            assertTrue(Verifier.verify(repo, null, 2, WAIT, Progress.NONE).ok(), "verify is clean");
        }
    }

    @Test
    void aCollectionDuringABackupMarksButDoesNotSweepWhatTheBackupUploaded() throws Exception {
        String loc = fresh("inflight");
        Path vol = S3Fixture.volume(dir.resolve("v.img"), SIZE, 11);
        HeldBackup b = new HeldBackup(loc, vol, "alpha", true).awaitHeld(); // every chunk uploaded, nothing committed
        GarbageCollector.Result during = gc(loc);
        assertEquals(0, during.chunksRemoved());
        assertNotNull(during.pending(), "the backup's chunks are marked, and wait for it");
        assertTrue(during.pending().contains("alpha") || during.pending().contains("backup"), during.pending());
        Manifest m = b.finish();
        GarbageCollector.Result after = gc(loc);
        assertEquals(0, after.chunksRemoved(), "the committed backup names them now");
        assertNull(after.pending());
        try (Repository repo = open(loc)) {
            assertRestores(repo, m.id(), vol, dir);
        }
        verifyClean(loc);
    }

    @Test
    void aBackupThatReusedTheChunksOfAPointDeletedDuringItStillRestores() throws Exception {
        String loc = fresh("reuse");
        Path vol = S3Fixture.volume(dir.resolve("v.img"), SIZE, 12);
        Manifest p;
        try (Repository repo = open(loc)) {
            p = backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z"));
        }
        // the second backup has loaded what the repository knows (every chunk, from p) and uploads nothing
        HeldBackup b = new HeldBackup(loc, vol, "beta", false).awaitHeld();
        try (Repository repo = open(loc); RepositoryLock l = repo.lock(RepositoryLock.Mode.EXCLUSIVE, WAIT, "delete")) {
            BackupStore.of(repo).delete(p.id()); // now no committed point names those chunks
        }
        GarbageCollector.Result during = gc(loc);
        assertEquals(0, during.chunksRemoved(), "marked, not swept: a backup was running at the mark");
        Manifest m = b.finish();
        assertEquals(0, m.volumes().getFirst().newChunks(), "it reused every chunk of the deleted point");
        GarbageCollector.Result after = gc(loc);
        assertEquals(0, after.chunksRemoved(), "the sweep sees the new point naming them");
        try (Repository repo = open(loc)) {
            assertRestores(repo, m.id(), vol, dir);
        }
        verifyClean(loc);
    }

    @Test
    void aBackupStartedAfterTheMarkClaimsMarkedChunksAndTheSweepLeavesThem() throws Exception {
        String loc = fresh("claims");
        Path vol = S3Fixture.volume(dir.resolve("v.img"), SIZE, 13);
        try (Repository repo = open(loc)) {
            Manifest p = backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z"));
            try (RepositoryLock l = repo.lock(RepositoryLock.Mode.EXCLUSIVE, WAIT, "delete")) {
                BackupStore.of(repo).delete(p.id());
            }
        }
        Repository reader = open(loc);
        var blocker = reader.readLease("a long restore"); // keeps the next mark from being swept at once
        GarbageCollector.Result mark = gc(loc);
        assertNotNull(mark.pending(), "marked: " + mark);
        // started after the mark: its chunks are exactly the marked ones; it claims them, uploads nothing, and is held
        // before its commit
        HeldBackup b = new HeldBackup(loc, vol, "beta", true).awaitHeld();
        blocker.close();
        reader.close();
        GarbageCollector.Result sweep = gc(loc); // the lease seen at the mark has ended: this sweeps
        assertEquals(0, sweep.chunksRemoved(), "every marked chunk is claimed by the running backup: " + sweep);
        Manifest m = b.finish();
        try (Repository repo = open(loc)) {
            assertRestores(repo, m.id(), vol, dir);
        }
        verifyClean(loc);
    }

    @Test
    void unusedChunksGoOnceTheOperationsSeenAtTheMarkHaveEnded() throws Exception {
        String loc = fresh("later");
        Path vol = S3Fixture.volume(dir.resolve("v.img"), SIZE, 14);
        Manifest p;
        try (Repository repo = open(loc)) {
            p = backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z"));
            try (RepositoryLock l = repo.lock(RepositoryLock.Mode.EXCLUSIVE, WAIT, "delete")) {
                BackupStore.of(repo).delete(p.id());
            }
        }
        Repository reader = open(loc);
        var blocker = reader.readLease("a restore");
        GarbageCollector.Result mark = gc(loc);
        assertEquals(0, mark.chunksRemoved());
        assertTrue(mark.pending().contains("a restore"), mark.pending());
        assertEquals(0, gc(loc).chunksRemoved(), "still waiting for it");
        blocker.close();
        reader.close();
        GarbageCollector.Result sweep = gc(loc);
        assertTrue(sweep.chunksRemoved() > 10, "the deleted point's chunks are gone: " + sweep);
        try (Repository repo = open(loc)) {
            assertEquals(0, repo.backend().listTree("chunks/").size());
            assertEquals(0, repo.backend().listTree("backups/").size());
            assertEquals(0, repo.backend().listTree("leases/").size());
            assertEquals(0, repo.backend().listTree("gc/").size());
        }
    }
}
