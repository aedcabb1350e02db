package dev.shadowcopy.volume;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The durable "incomplete" mark of a volume an operation is rewriting: it survives restarts and resizes until the
 * operation clears it, and a revert's write-back of auto-recovered changes that a crash cut short is finished at
 * open.
 */
class IncompleteVolumeTest {
    static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void theMarkSurvivesRestartsAndResizesUntilItIsCleared() throws IOException {
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.sparse("rv", SIZE), "restore of x from y\ninterrupted");
            assertEquals("restore of x from y interrupted", v.incomplete(), "one line");
            m.resizeShadowStorage("rv", ShadowStorageLimit.ofBytes(2L << 20));
        }
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE)) {
            ManagedVolume v = m.get("rv");
            assertEquals("restore of x from y interrupted", v.incomplete());
            assertEquals(ShadowStorageLimit.ofBytes(2L << 20), v.config().shadowStorage());
            v.markComplete();
            assertNull(v.incomplete());
        }
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE)) {
            assertNull(m.get("rv").incomplete());
            assertEquals(ShadowStorageLimit.ofBytes(2L << 20), m.get("rv").config().shadowStorage());
        }
    }

    @Test
    void aRevertCutShortBeforeItsWriteBackIsFinishedAtOpen() throws IOException {
        ShadowCopyId id;
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE); Arena a = Arena.ofConfined()) {
            ManagedVolume v = m.create(VolumeConfig.sparse("v", SIZE));
            v.write(0, AutoRecoveryOverlayTest.filled(a, SIZE, 0xAA), false);
            id = v.createShadowCopy(ShadowCopyId.random(), true).id();
            v.write(0, AutoRecoveryOverlayTest.filled(a, SIZE, 0xBB), false);
            OverlayDevice o = v.beginRecovery(id);
            o.write(8192, AutoRecoveryOverlayTest.filled(a, 4096, 0xCC), false);
            v.sealRecovery(id, o);
            // What ManagedVolume.revert does up to a crash between the engine's revert and the write-back:
            v.markIncomplete("revert to shadow copy " + id + " of volume v was interrupted (test)");
            EngineAccess.engine(v).revert(id);
            assertArrayEquals(AutoRecoveryOverlayTest.bytes(4096, 0xAA), AutoRecoveryOverlayTest.read(v, 8192, 4096),
                    "the recovered block is not on the volume yet");
        }
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE)) {
            ManagedVolume v = m.get("v");
            assertNull(v.incomplete(), "finished at open");
            assertArrayEquals(AutoRecoveryOverlayTest.bytes(4096, 0xCC), AutoRecoveryOverlayTest.read(v, 8192, 4096));
            assertArrayEquals(AutoRecoveryOverlayTest.bytes(4096, 0xAA), AutoRecoveryOverlayTest.read(v, 0, 4096));
        }
    }

    @Test
    void aRevertEndsAnInterruptedRestore() throws IOException {
        try (VolumeManager m = VolumeManager.open(dir, VolumeEvents.NONE); Arena a = Arena.ofConfined()) {
            ManagedVolume v = m.create(VolumeConfig.sparse("v", SIZE));
            v.write(0, AutoRecoveryOverlayTest.filled(a, SIZE, 0xAA), false);
            ShadowCopyId id = v.createShadowCopy(ShadowCopyId.random(), true).id();
            v.markIncomplete("restore of something interrupted");
            v.write(0, AutoRecoveryOverlayTest.filled(a, 4096, 0x55), false); // half a restore
            v.revert(id);
            assertNull(v.incomplete(), "the volume is exactly the copy now");
            assertTrue(v.shadowCopies().stream().anyMatch(c -> c.id().equals(id)));
            assertArrayEquals(AutoRecoveryOverlayTest.bytes(4096, 0xAA), AutoRecoveryOverlayTest.read(v, 0, 4096));
        }
    }
}
