package dev.shadowcopy.volume;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backing file written while the volume was not open: change tracking cannot have seen it, so it restarts
 * (and says so) instead of letting an incremental backup miss the change. An untouched backing keeps tracking.
 */
class ExternalWriteTest {
    @TempDir
    Path dir;

    @Test
    void aBackingModifiedWhileClosedRestartsChangeTracking() throws Exception {
        Path backing = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(backing.toFile(), "rw")) {
            f.setLength(4 << 20);
        }
        ShadowCopyInfo copy;
        List<String> warnings = new ArrayList<>();
        VolumeEvents events = new VolumeEvents() {
            @Override
            public void warning(String volume, String message) {
                warnings.add(message);
            }
        };
        try (VolumeManager m = VolumeManager.open(dir.resolve("state"), events); Arena a = Arena.ofConfined()) {
            ManagedVolume v = m.create(VolumeConfig.existing("v", backing));
            MemorySegment s = a.allocate(65536);
            s.fill((byte) 1);
            v.write(0, s, false);
            copy = v.createShadowCopy(ShadowCopyId.random(), true);
            v.write(65536, s, false);
        }
        // Reopened untouched: tracking continues.
        try (VolumeManager m = VolumeManager.open(dir.resolve("state"), events)) {
            ManagedVolume v = m.get("v");
            assertTrue(v.trackingSince() <= copy.sequence());
            v.mapChangesSince(copy.sequence(), 0, v.size(), (o, l, f) -> true);
        }
        assertTrue(warnings.isEmpty(), warnings.toString());
        // Someone writes the backing while the service is stopped (a later time, as it would be).
        try (RandomAccessFile f = new RandomAccessFile(backing.toFile(), "rw")) {
            f.seek(3 << 20);
            f.write(new byte[] {9, 9, 9});
        }
        Files.setLastModifiedTime(backing, FileTime.from(Instant.now().plusSeconds(5)));
        try (VolumeManager m = VolumeManager.open(dir.resolve("state"), events)) {
            ManagedVolume v = m.get("v");
            assertTrue(v.trackingSince() > copy.sequence(), "tracking restarted after the copy");
            VolumeException e = assertThrows(VolumeException.class,
                    () -> v.mapChangesSince(copy.sequence(), 0, v.size(), (o, l, f) -> true));
            assertEquals(VolumeException.Code.BAD_STATE, e.code());
            assertEquals(1, warnings.size());
            assertTrue(warnings.getFirst().contains("modified while the volume was not open"), warnings.toString());
            // A copy taken now is tracked again.
            ShadowCopyInfo fresh = v.createShadowCopy(ShadowCopyId.random(), true);
            v.mapChangesSince(fresh.sequence(), 0, v.size(), (o, l, f) -> true);
        }
    }
}
