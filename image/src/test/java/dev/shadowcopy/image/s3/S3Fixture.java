package dev.shadowcopy.image.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.s3.S3Backend;
import dev.shadowcopy.image.repository.s3.S3Clients;
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
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Volumes, backups and byte-exact restores for the object storage tests. */
final class S3Fixture {
    static final int CHUNK = 64 * 1024;

    private S3Fixture() {}

    /** A volume of {@code size} bytes: random and text-like runs, holes, written with {@code seed}. */
    static Path volume(Path p, long size, long seed) throws IOException {
        try (FileDevice d = FileDevice.create(p, size); Arena a = Arena.ofConfined()) {
            Random r = new Random(seed);
            byte[] head = new byte[CHUNK]; // the first chunk always holds data: change() rewrites it
            r.nextBytes(head);
            MemorySegment h = a.allocate(CHUNK);
            MemorySegment.copy(head, 0, h, ValueLayout.JAVA_BYTE, 0, CHUNK);
            d.write(0, h, false);
            for (int i = 0; i < 24; i++) {
                int len = 4096 * (1 + r.nextInt(24));
                long off = (long) r.nextInt((int) (size - len)) / 4096 * 4096;
                byte[] b = new byte[len];
                if (i % 2 == 0) {
                    r.nextBytes(b);
                } else {
                    for (int k = 0; k < len; k++) {
                        b[k] = (byte) ("lorem ipsum dolor ".charAt(k % 18) + i);
                    }
                }
                MemorySegment s = a.allocate(len);
                MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, len);
                d.write(off, s, false);
            }
        }
        return p;
    }

    /** Rewrites the first chunk with other random bytes. */
    static void change(Path p, long seed) throws IOException {
        try (FileDevice d = FileDevice.open(p, false); Arena a = Arena.ofConfined()) {
            Random r = new Random(seed);
            byte[] b = new byte[CHUNK];
            r.nextBytes(b);
            MemorySegment s = a.allocate(b.length);
            MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, b.length);
            d.write(0, s, false);
        }
    }

    static Manifest backup(Repository repo, Path volume, String host, Instant at) throws IOException {
        return backup(repo, volume, host, at, Progress.NONE);
    }

    static Manifest backup(Repository repo, Path volume, String host, Instant at, Progress progress)
            throws IOException {
        try (FileDevice d = FileDevice.open(volume, true)) {
            return BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource("data",
                    "vol-" + volume.getFileName(), "copy", 1, d, null)), at, "set", "backup", "crash-consistent",
                    List.of(), Map.of(), host, null, false, 2, Duration.ofSeconds(5)), progress).manifest();
        }
    }

    /** Restores a point's volume to a new file and asserts it equals {@code expected}. */
    static void assertRestores(Repository repo, String id, Path expected, Path scratch) throws IOException {
        Path out = scratch.resolve("restore-" + id + ".img");
        Files.deleteIfExists(out);
        try (FileDevice d = FileDevice.create(out, Files.size(expected))) {
            Restorer.restore(repo, id, "data", d, new Restorer.Options(true, false, 2, Duration.ofSeconds(5)),
                    Progress.NONE);
        }
        assertEquals(-1, Files.mismatch(expected, out), "backup " + id + " restores byte for byte");
        Files.delete(out);
    }

    /** A repository on the test server with its own client (optionally wrapped to inject faults). */
    static Repository open(String location, char[] passphrase, FaultyHttpClient[] faults, long seed)
            throws IOException {
        RepositoryLocation loc = RepositoryLocation.parse(location);
        var client = S3Clients.build(faults == null ? null : http -> faults[0] = new FaultyHttpClient(http, seed));
        return Repository.open(new S3Backend(client, loc.bucket(), loc.prefix(), null), passphrase);
    }

    static S3Backend.Counters counters(Repository repo) {
        return ((S3Backend) repo.backend()).counters();
    }
}
