package dev.shadowcopy.image;

import dev.shadowcopy.image.manifest.BackupStore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.export.Qcow2Writer;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Keys;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.image.restore.RepositoryDevice;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.volume.FileDevice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/** Damaged, missing and forged repository files; bad passphrases; qcow2 export checked by qemu-img. */
@Tag("host")
class RepositoryDamageTest {
    static final int SIZE = 6 * 1024 * 1024 + 12_345;

    @TempDir
    Path dir;

    /** A volume with random data, text-like data, a repeated block and holes. */
    static Path makeVolume(Path p, long seed) throws IOException {
        try (FileDevice d = FileDevice.create(p, SIZE); Arena a = Arena.ofConfined()) {
            Random r = new Random(seed);
            for (int i = 0; i < 40; i++) {
                int len = 4096 * (1 + r.nextInt(40));
                long off = (long) r.nextInt(SIZE - len) / 4096 * 4096;
                MemorySegment s = a.allocate(len);
                byte[] b = new byte[len];
                if (i % 3 == 0) {
                    r.nextBytes(b);
                } else {
                    for (int k = 0; k < len; k++) {
                        b[k] = (byte) ("the quick brown fox ".charAt(k % 20) + (i % 2));
                    }
                }
                MemorySegment.copy(b, 0, s, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, len);
                d.write(off, s, false);
            }
            MemorySegment tail = a.allocate(100);
            tail.fill((byte) 7);
            d.write(SIZE - 100, tail, false);
        }
        return p;
    }

    static Manifest backup(Repository repo, Path volume, Instant at) throws IOException {
        try (FileDevice d = FileDevice.open(volume, true)) {
            return BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource("data", "vol-1", "c", 1,
                    d, null)), at, "set", "backup", "crash-consistent", List.of(), Map.of(), "h", null, false, 2,
                    Duration.ofSeconds(5)), Progress.NONE).manifest();
        }
    }

    static Repository plainRepo(Path p) throws IOException {
        return Repository.init(p, new Repository.InitOptions(256 * 1024, 3, null, 0));
    }

    @Test
    void damagedChunkIsNamedByVerifyWithEveryBackupItAffectsAndFailsRestore() throws IOException {
        Repository repo = plainRepo(dir.resolve("repo"));
        Path vol = makeVolume(dir.resolve("v.img"), 1);
        Manifest a = backup(repo, vol, Instant.parse("2026-01-01T00:00:00Z"));
        Manifest b = backup(repo, vol, Instant.parse("2026-01-02T00:00:00Z"));
        VolumeIndex idx = BackupStore.of(repo).index(a, a.volume("data"));
        ChunkId victim = java.util.Arrays.stream(idx.chunks()).filter(c -> !c.isZero()).findFirst().orElseThrow();
        Path file = repo.root().resolve("chunks").resolve(victim.hex().substring(0, 3)).resolve(victim.hex());
        byte[] blob = Files.readAllBytes(file);
        blob[blob.length / 2] ^= 0x40;
        Files.write(file, blob);

        Verifier.Report r = Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE);
        assertFalse(r.ok());
        assertEquals(1, r.damaged().size());
        assertEquals(victim.hex(), r.damaged().getFirst().chunk());
        assertEquals(java.util.Set.of(a.id(), b.id()), r.damagedBackups().keySet());

        try (FileDevice t = FileDevice.create(dir.resolve("out.img"), SIZE)) {
            RepositoryException e = assertThrows(RepositoryException.class, () -> Restorer.restore(repo, a.id(), "data",
                    t, new Restorer.Options(true, false, 2, Duration.ofSeconds(5)), Progress.NONE));
            assertEquals(RepositoryException.Code.CORRUPT, e.code());
            assertTrue(e.getMessage().contains(victim.hex()), e.getMessage());
        }
        // The next backup notices nothing wrong with the live data but re-stores nothing either: the chunk is
        // "known"; a repair is deleting the damaged backups (verify names them) and backing up again.
        Files.delete(file);
        Verifier.Report missing = Verifier.verify(repo, List.of(a.id()), 2, Duration.ofSeconds(5), Progress.NONE);
        assertTrue(missing.damaged().getFirst().problem().contains("missing"), missing.damaged().toString());
        assertEquals(java.util.Set.of(a.id()), missing.damagedBackups().keySet());
    }

    @Test
    void forgedOrSwappedFilesAreRejected() throws IOException {
        Repository repo = Repository.init(dir.resolve("enc"), new Repository.InitOptions(64 * 1024, 3,
                "correct horse".toCharArray(), 1000));
        Path vol = makeVolume(dir.resolve("v.img"), 2);
        Manifest a = backup(repo, vol, Instant.parse("2026-01-01T00:00:00Z"));
        assertEquals(RepositoryException.Code.WRONG_PASSPHRASE, assertThrows(RepositoryException.class,
                () -> Repository.open(dir.resolve("enc"), "wrong".toCharArray())).code());
        assertEquals(RepositoryException.Code.PASSPHRASE_REQUIRED, assertThrows(RepositoryException.class,
                () -> Repository.open(dir.resolve("enc"), null)).code());
        // Swap two chunk files: authentication binds each to its name.
        VolumeIndex idx = BackupStore.of(repo).index(a, a.volume("data"));
        List<ChunkId> two = java.util.Arrays.stream(idx.chunks()).filter(c -> !c.isZero()).distinct().limit(2).toList();
        Path p0 = repo.root().resolve("chunks").resolve(two.get(0).hex().substring(0, 3)).resolve(two.get(0).hex());
        Path p1 = repo.root().resolve("chunks").resolve(two.get(1).hex().substring(0, 3)).resolve(two.get(1).hex());
        byte[] b0 = Files.readAllBytes(p0);
        Files.write(p0, Files.readAllBytes(p1));
        Files.write(p1, b0);
        Verifier.Report r = Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE);
        assertEquals(2, r.damaged().size());
        assertTrue(r.damaged().getFirst().problem().contains("authentication"), r.damaged().toString());
        // A damaged manifest makes that backup unreadable, reported by verify, and stops garbage collection.
        Path manifest = repo.root().resolve("backups").resolve(a.id()).resolve("manifest");
        byte[] m = Files.readAllBytes(manifest);
        m[20] ^= 1;
        Files.write(manifest, m);
        assertEquals(RepositoryException.Code.CORRUPT, assertThrows(RepositoryException.class,
                () -> BackupStore.of(repo).manifest(a.id())).code());
        assertTrue(Verifier.verify(repo, null, 1, Duration.ofSeconds(5), Progress.NONE).damagedBackups()
                .containsKey(a.id()));
        assertThrows(RepositoryException.class, () -> GarbageCollector.collect(repo, Duration.ofSeconds(5)));
    }

    @Test
    void aBackupWhoseManifestWasDeletedIsDamageForVerifyAndARefusalForGc() throws IOException {
        Repository repo = plainRepo(dir.resolve("repo"));
        Path vol = makeVolume(dir.resolve("v.img"), 4);
        Manifest a = backup(repo, vol, Instant.parse("2026-01-01T00:00:00Z"));
        Path other = makeVolume(dir.resolve("w.img"), 5);
        Manifest b = backup(repo, other, Instant.parse("2026-01-02T00:00:00Z"));
        VolumeIndex idx = BackupStore.of(repo).index(b, b.volume("data"));
        long chunksBefore = countChunks(repo);
        Files.delete(repo.root().resolve("backups").resolve(b.id()).resolve("manifest"));

        assertEquals(List.of(a.id(), b.id()), BackupStore.of(repo).ids(), "the point is still there, damaged");
        Verifier.Report r = Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE);
        assertFalse(r.ok(), "a missing manifest is damage");
        assertEquals(java.util.Set.of(b.id()), r.damagedBackups().keySet());
        assertTrue(r.damagedBackups().get(b.id()).getFirst().contains("manifest is missing"),
                r.damagedBackups().toString());

        RepositoryException e = assertThrows(RepositoryException.class,
                () -> GarbageCollector.collect(repo, Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("nothing was removed") && e.getMessage().contains("backups delete "
                + b.id()), e.getMessage());
        assertEquals(chunksBefore, countChunks(repo), "no chunk of the unreadable point was swept");
        for (ChunkId c : idx.chunks()) {
            if (!c.isZero()) {
                assertTrue(repo.chunkFileSize(c) > 0, "chunk " + c + " of the damaged point is kept");
            }
        }
        // Giving the point up is the admin's decision; then the sweep runs.
        BackupStore.of(repo).delete(b.id());
        GarbageCollector.collect(repo, Duration.ofSeconds(5));
        assertTrue(Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE).ok());
    }

    private static long countChunks(Repository repo) throws IOException {
        long[] n = {0};
        repo.forEachChunkFile(c -> n[0]++, p -> { });
        return n[0];
    }

    @Test
    void repositoryFilesAreReadableByTheirOwnerOnlyWhateverTheUmask() throws IOException {
        Path root = dir.resolve("repo");
        Files.createDirectories(root); // an empty directory made by the admin with the usual 0755
        Files.setPosixFilePermissions(root, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Repository repo = plainRepo(root);
        backup(repo, makeVolume(dir.resolve("v.img"), 6), Instant.parse("2026-01-01T00:00:00Z"));
        try (var all = Files.walk(root)) {
            for (Path p : all.toList()) {
                String mode = java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
                assertEquals(Files.isDirectory(p) ? "rwx------" : "rw-------", mode, p.toString());
            }
        }
    }

    @Test
    void aPassphraseForAnUnencryptedRepositoryIsAnError() throws IOException {
        plainRepo(dir.resolve("repo"));
        RepositoryException e = assertThrows(RepositoryException.class,
                () -> Repository.open(dir.resolve("repo"), "secret".toCharArray()));
        assertEquals(RepositoryException.Code.INVALID, e.code());
        assertTrue(e.getMessage().contains("is not encrypted"), e.getMessage());
    }

    @Test
    void pruneWaitsForTheBackupLockAndSaysWhy() throws IOException {
        Repository repo = plainRepo(dir.resolve("repo"));
        try (RepositoryLock shared = repo.lock(RepositoryLock.Mode.SHARED, Duration.ofSeconds(1), "test")) {
            RepositoryException e = assertThrows(RepositoryException.class,
                    () -> GarbageCollector.collect(repo, Duration.ofMillis(100)));
            assertEquals(RepositoryException.Code.LOCKED, e.code());
            try (RepositoryLock again = repo.lock(RepositoryLock.Mode.SHARED, Duration.ofSeconds(1), "test")) {
                assertEquals(RepositoryLock.Mode.SHARED, again.mode());
            }
        }
        GarbageCollector.collect(repo, Duration.ofMillis(100));
    }

    @Property(tries = 2000)
    void decodingGarbageFailsCleanly(@ForAll byte[] garbage, @ForAll boolean encrypted) {
        BlobCodec codec = new BlobCodec(Keys.plain(), 1);
        byte[] blob = garbage;
        if (garbage.length > 20 && garbage[0] % 2 == 0) { // a valid header with a damaged body
            byte[] real = codec.encode(BlobCodec.CHUNK, garbage, garbage.length, "x");
            real[16 + (garbage[1] & 0xff) % (real.length - 16)] ^= 1;
            blob = real;
        }
        final byte[] input = blob;
        assertThrows(RepositoryException.class, () -> codec.decode(BlobCodec.CHUNK, input, input.length, "x", null));
    }

    @Test
    void qcow2ExportIsCleanAndEqualToTheSource() throws IOException {
        Host.requireProgram("qemu-img");
        Repository repo = plainRepo(dir.resolve("repo"));
        Path vol = makeVolume(dir.resolve("v.img"), 3);
        Manifest a = backup(repo, vol, Instant.parse("2026-01-01T00:00:00Z"));
        Path q = dir.resolve("out.qcow2");
        Qcow2Writer.Result r = Qcow2Writer.write(new RepositoryDevice(repo, a, a.volume("data")), q, Progress.NONE);
        assertTrue(r.dataClusters() > 0 && r.dataClusters() < SIZE / 65536);
        Host.run("qemu-img", "check", "-f", "qcow2", q.toString());
        Host.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", vol.toString(), q.toString());
        String info = Host.run("qemu-img", "info", "--output=json", q.toString());
        assertTrue(info.contains("\"virtual-size\": " + Qcow2Writer.virtualSize(SIZE)), info);
    }
}
