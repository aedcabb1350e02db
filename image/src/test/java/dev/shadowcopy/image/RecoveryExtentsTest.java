package dev.shadowcopy.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.testing.MemoryDevice;
import dev.shadowcopy.volume.FileDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy changed by auto-recovery differs from the volume where it was changed, though change tracking (which
 * follows the volume) says nothing changed there: the next incremental must read those extents again.
 */
class RecoveryExtentsTest {
    @TempDir
    Path dir;

    @Test
    void theNextIncrementalRereadsWhatAutoRecoveryChanged() throws Exception {
        Repository repo = Repository.init(dir.resolve("repo"), new Repository.InitOptions(64 << 10, 1, null, 0));
        byte[] live = new byte[1 << 20];
        java.util.Arrays.fill(live, (byte) 0x11);
        byte[] recovered = live.clone();
        java.util.Arrays.fill(recovered, 200_000, 204_096, (byte) 0x22); // what auto-recovery wrote into copy 1
        BackupWriter.Result first = BackupWriter.write(repo, req(new VolumeSource("v", "id", "c1", 1,
                new MemoryDevice(recovered, true), (since, o, l, vis) -> vis.extent(o, l, 0),
                List.of(new long[] {200_000, 4096})), "2026-01-01T00:00:00Z"), Progress.NONE);
        assertEquals(List.of(200_000L, 4096L), List.of(first.manifest().volumes().getFirst().recoveryExtents().getFirst()[0],
                first.manifest().volumes().getFirst().recoveryExtents().getFirst()[1]));
        // Copy 2 of the unchanged volume, not auto-recovered; tracking truthfully reports no change.
        BackupWriter.Result second = BackupWriter.write(repo, req(new VolumeSource("v", "id", "c2", 2,
                new MemoryDevice(live.clone(), true), (since, o, l, vis) -> vis.extent(o, l, 0)),
                "2026-01-02T00:00:00Z"), Progress.NONE);
        Manifest.VolumeEntry e = second.manifest().volumes().getFirst();
        assertEquals("incremental", e.mode());
        // only the extent auto-recovery changed is read again: its chunk is stored as a patch over the first
        // point's chunk (the volume's bytes there, 0x11, where the first point holds the recovered 0x22)
        assertEquals(4096, e.bytesRead(), "the extent auto-recovery touched, and only that");
        VolumeIndex idx = BackupStore.of(repo).index(second.manifest(), e);
        for (int c = 0; c < idx.chunks().length; c++) {
            assertEquals(c == 200_000 / (64 << 10), idx.patched(c), "chunk " + c);
        }
        Path out = dir.resolve("out.img");
        try (FileDevice t = FileDevice.create(out, live.length)) {
            Restorer.restore(repo, second.manifest().id(), "v", t, new Restorer.Options(true, false, 1,
                    Duration.ofSeconds(5)), Progress.NONE);
        }
        assertArrayEquals(live, Files.readAllBytes(out));
    }

    static BackupWriter.Request req(VolumeSource s, String at) {
        return new BackupWriter.Request(List.of(s), Instant.parse(at), "set", "backup", "crash-consistent", List.of(),
                Map.of(), "h", null, false, 1, Duration.ofSeconds(5));
    }
}
