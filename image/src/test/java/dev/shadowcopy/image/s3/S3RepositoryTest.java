package dev.shadowcopy.image.s3;

import static dev.shadowcopy.image.s3.S3Fixture.assertRestores;
import static dev.shadowcopy.image.s3.S3Fixture.backup;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.restore.RepositoryDevice;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Everything a repository does, on a real S3 server (s3proxy through bin/dev-s3), unchanged from a directory. */
class S3RepositoryTest {
    static final long SIZE = 3 * 1024 * 1024 + 4096;

    @TempDir
    Path dir;

    @BeforeAll
    static void server() throws Exception {
        S3Server.shared();
    }

    static Repository init(String location, char[] passphrase) throws Exception {
        return RepositoryLocation.parse(location).init(new Repository.InitOptions(S3Fixture.CHUNK, 1, passphrase,
                20_000));
    }

    @Test
    void initCreatesTheBucketAndBackupRestoreVerifyPruneAndGcWorkAsInADirectory() throws Exception {
        String loc = S3Server.shared().freshLocation("repo");
        try (Repository repo = init(loc, null)) {
            assertTrue(repo.lockFree());
            Path vol = S3Fixture.volume(dir.resolve("v.img"), SIZE, 1);
            Manifest a = backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z"));
            Path first = Files.copy(vol, dir.resolve("first.img"));
            S3Fixture.change(vol, 2);
            Manifest b = backup(repo, vol, "alpha", Instant.parse("2026-01-02T00:00:00Z"));
            assertTrue(b.volumes().getFirst().newChunks() <= 2, "only the changed chunk is stored again");
            assertEquals(List.of(a.id(), b.id()), BackupStore.of(repo).ids());
            assertRestores(repo, a.id(), first, dir);
            assertRestores(repo, b.id(), vol, dir);
            assertTrue(Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE).ok());
            Pruner.Result p = Pruner.prune(repo, new Retention(1, 0, 0, 0, ZoneOffset.UTC), false, true,
                    Duration.ofSeconds(5));
            assertEquals(1, p.gc().chunksRemoved(), "the replaced chunk goes: nothing else was running " + p.gc());
            assertEquals(List.of(b.id()), BackupStore.of(repo).ids());
            assertRestores(repo, b.id(), vol, dir);
            assertTrue(Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE).ok());
            GarbageCollector.Result again = GarbageCollector.collect(repo, Duration.ofSeconds(5));
            assertEquals(0, again.chunksRemoved());
            assertEquals(null, again.pending());
        }
    }

    @Test
    void anEncryptedRepositoryOnS3NeedsItsPassphraseAndVerifies() throws Exception {
        String loc = S3Server.shared().freshLocation("enc");
        Path vol = S3Fixture.volume(dir.resolve("v.img"), SIZE, 3);
        try (Repository repo = init(loc, "secret".toCharArray())) {
            backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z"));
        }
        RepositoryException e = org.junit.jupiter.api.Assertions.assertThrows(RepositoryException.class,
                () -> RepositoryLocation.parse(loc).open("wrong".toCharArray()));
        assertEquals(RepositoryException.Code.WRONG_PASSPHRASE, e.code());
        try (Repository repo = RepositoryLocation.parse(loc).open("secret".toCharArray())) {
            assertTrue(Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE).ok());
            assertRestores(repo, "latest", vol, dir);
        }
    }

    @Test
    void latestMeansThisHostsLatestAndListingsNameTheHost() throws Exception {
        String loc = S3Server.shared().freshLocation("hosts");
        try (Repository repo = init(loc, null)) {
            Path v1 = S3Fixture.volume(dir.resolve("a.img"), SIZE, 4);
            Path v2 = S3Fixture.volume(dir.resolve("b.img"), SIZE, 5);
            Manifest a = backup(repo, v1, "alpha", Instant.parse("2026-01-01T00:00:00Z"));
            Manifest b = backup(repo, v2, "beta", Instant.parse("2026-01-02T00:00:00Z"));
            assertEquals(a.id(), BackupStore.of(repo).resolve("latest", "alpha"));
            assertEquals(b.id(), BackupStore.of(repo).resolve("latest", "beta"));
            assertEquals(b.id(), BackupStore.of(repo).resolve("latest"));
            RepositoryException e = org.junit.jupiter.api.Assertions.assertThrows(RepositoryException.class,
                    () -> BackupStore.of(repo).resolve("latest", "gamma"));
            assertTrue(e.getMessage().contains("alpha") && e.getMessage().contains("beta"), e.getMessage());
        }
    }

    @Test
    void serveReadsThroughALocalChunkCache() throws Exception {
        String loc = S3Server.shared().freshLocation("serve");
        Path vol = S3Fixture.volume(dir.resolve("v.img"), SIZE, 6);
        String id;
        try (Repository repo = init(loc, null)) {
            id = backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z")).id();
        }
        for (int round = 0; round < 2; round++) {
            try (Repository repo = RepositoryLocation.parse(loc).open(null, true);
                 var lease = repo.readLease("serve"); Arena a = Arena.ofConfined()) {
                Manifest m = BackupStore.of(repo).manifest(id);
                RepositoryDevice dev = new RepositoryDevice(repo, m, m.volume("data"));
                var seg = a.allocate(SIZE);
                dev.read(0, seg);
                assertEquals(-1, java.util.Arrays.compare(Files.readAllBytes(vol), seg.toArray(
                        java.lang.foreign.ValueLayout.JAVA_BYTE)) == 0 ? -1 : 0, "served bytes equal the volume");
            }
        }
        Path cache = dev.shadowcopy.image.repository.s3.ChunkCache.defaultDir(RepositoryLocation.parse(loc).toString())
                .resolve("chunks");
        try (var s = Files.list(cache)) {
            assertFalse(s.toList().isEmpty(), "chunks were cached in " + cache);
        }
    }

    @Test
    void aBackupCutShortLeavesARepositoryThatVerifiesAndTheNextOneDoesNotUploadWhatIsThere() throws Exception {
        String loc = S3Server.shared().freshLocation("resume");
        Path vol = dir.resolve("v.img"); // 64 chunks of random data: a HEAD and a PUT each
        byte[] data = new byte[64 * S3Fixture.CHUNK];
        new java.util.Random(7).nextBytes(data);
        Files.write(vol, data);
        init(loc, null).close();
        FaultyHttpClient[] f = new FaultyHttpClient[1];
        long uploaded = 0;
        System.setProperty("shadowcopy.s3.attempts", "2");
        System.setProperty("shadowcopy.s3.backoff-ms", "1");
        try (Repository repo = S3Fixture.open(loc, null, f, 1)) {
            System.clearProperty("shadowcopy.s3.attempts");
            System.clearProperty("shadowcopy.s3.backoff-ms");
            f[0].crashAt = f[0].requests() + 70; // the process dies part way through the uploads
            org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                    () -> backup(repo, vol, "alpha", Instant.parse("2026-01-01T00:00:00Z")));
            uploaded = S3Fixture.counters(repo).putObjects();
        } catch (java.io.IOException closing) {
            // the dead process cannot remove its lease either
        }
        assertTrue(uploaded > 5, "some chunks were uploaded before the crash: " + uploaded);
        try (Repository repo = S3Fixture.open(loc, null, null, 0)) {
            assertEquals(List.of(), BackupStore.of(repo).ids(), "no backup point from the cut-short run");
            assertTrue(Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE).ok());
            Manifest m = backup(repo, vol, "alpha", Instant.parse("2026-01-02T00:00:00Z"));
            assertTrue(S3Fixture.counters(repo).chunksAlreadyThere() >= uploaded - 4,
                    "the uploaded chunks are not sent again: " + S3Fixture.counters(repo));
            assertNotEquals(0, m.volumes().getFirst().newChunks());
            assertRestores(repo, m.id(), vol, dir);
        }
    }
}
