package dev.shadowcopy.volume;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.ReadOnlyException;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Auto-recovery overlays: invisible until sealed, then part of the copy for every reader (reads, allocation,
 * change maps), kept across a reopen, discarded when unsealed at a crash or when the copy goes, and applied by
 * a revert.
 */
class AutoRecoveryOverlayTest {
    static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    static MemorySegment filled(Arena a, long len, int b) {
        MemorySegment s = a.allocate(len);
        s.fill((byte) b);
        return s;
    }

    static byte[] read(BlockDevice d, long off, long len) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(len);
            d.read(off, s);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    static byte[] bytes(long len, int b) {
        byte[] x = new byte[(int) len];
        java.util.Arrays.fill(x, (byte) b);
        return x;
    }

    @Test
    void sealedChangesBecomePartOfTheCopyForEveryReader() throws IOException {
        ShadowCopyId id;
        int seq;
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE); Arena a = Arena.ofConfined()) {
            ManagedVolume v = m.create(VolumeConfig.sparse("v", SIZE));
            v.write(0, filled(a, SIZE, 0xAA), false);
            ShadowCopyInfo first = v.createShadowCopy(ShadowCopyId.random(), true);
            ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
            id = copy.id();
            seq = first.sequence();
            v.write(0, filled(a, SIZE, 0xBB), false); // the live volume moves on

            OverlayDevice o = v.beginRecovery(id);
            o.write(8192, filled(a, 4096, 0xCC), false);
            o.write(65536 + 100, filled(a, 10, 0xDD), false); // partial block: copied up from the copy
            assertArrayEquals(bytes(4096, 0xAA), read(v.shadowCopy(id), 8192, 4096), "invisible until sealed");
            v.sealRecovery(id, o);
            assertThrows(ReadOnlyException.class, () -> o.write(0, filled(a, 4096, 1), false));

            ShadowCopyDevice d = v.shadowCopy(id);
            assertTrue(d.autoRecovered());
            assertArrayEquals(bytes(4096, 0xCC), read(d, 8192, 4096));
            byte[] partial = read(d, 65536, 4096);
            assertEquals((byte) 0xAA, partial[99]);
            assertEquals((byte) 0xDD, partial[100]);
            assertEquals((byte) 0xAA, partial[110]);
            assertArrayEquals(bytes(4096, 0xAA), read(d, 0, 4096));
            // The first copy and the live volume are untouched.
            assertArrayEquals(bytes(4096, 0xAA), read(v.shadowCopy(first.id()), 8192, 4096));
            assertArrayEquals(bytes(4096, 0xBB), read(v, 8192, 4096));
            // Change maps since the first copy report the recovered blocks (nothing else changed between them).
            List<long[]> changed = new ArrayList<>();
            d.mapChangesSince(seq, 0, SIZE, (off, len, flags) -> {
                if ((flags & 1) != 0) {
                    changed.add(new long[] {off, len});
                }
                return true;
            });
            assertEquals(2, changed.size(), () -> changed.stream().map(x -> x[0] + "+" + x[1]).toList().toString());
            assertEquals(8192, changed.get(0)[0]);
            assertTrue(changed.get(1)[0] <= 65536 + 100 && changed.get(1)[0] + changed.get(1)[1] >= 65536 + 110);
        }
        // Kept across a reopen.
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE)) {
            ManagedVolume v = m.get("v");
            assertArrayEquals(bytes(4096, 0xCC), read(v.shadowCopy(id), 8192, 4096));
            // A revert gives the volume the copy as applications saw it, recovered blocks included.
            v.revert(id);
            assertArrayEquals(bytes(4096, 0xCC), read(v, 8192, 4096));
            assertArrayEquals(bytes(4096, 0xAA), read(v, 0, 4096));
            // Deleting the copy removes its overlay files.
            if (v.shadowCopies().stream().anyMatch(c -> c.id().equals(id))) {
                v.deleteShadowCopy(id);
            }
            try (var s = Files.list(dir.resolve("v").resolve(VolumeManager.RECOVERY_DIR))) {
                assertEquals(0, s.count());
            }
        }
    }

    @Test
    void anUnsealedRecoveryIsDiscardedAtOpen() throws IOException {
        ShadowCopyId id;
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE); Arena a = Arena.ofConfined()) {
            ManagedVolume v = m.create(VolumeConfig.sparse("v", SIZE));
            v.write(0, filled(a, SIZE, 0x11), false);
            id = v.createShadowCopy(ShadowCopyId.random(), true).id();
            OverlayDevice o = v.beginRecovery(id);
            o.write(0, filled(a, 4096, 0x22), false);
            // "crash": the manager closes without the overlay being sealed or closed
        }
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE)) {
            ShadowCopyDevice d = m.get("v").shadowCopy(id);
            assertFalse(d.autoRecovered());
            assertArrayEquals(bytes(4096, 0x11), read(d, 0, 4096));
            try (var s = Files.list(dir.resolve("v").resolve(VolumeManager.RECOVERY_DIR))) {
                assertEquals(0, s.count(), "the unsealed overlay file was removed");
            }
        }
    }
}
