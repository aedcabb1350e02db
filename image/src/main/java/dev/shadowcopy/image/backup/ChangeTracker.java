package dev.shadowcopy.image.backup;

import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;

/**
 * Where an incremental backup learns what changed: the engine's change tracking
 * ({@code ShadowCopyDevice.mapChangesSince}). Extents with flag 1 changed since the copy with sequence
 * {@code sinceSequence}; it may over-report, never under-report.
 */
@FunctionalInterface
public interface ChangeTracker {
    /**
     * @throws IOException when changes since then are not known (tracking was suspended, the volume was
     *                     re-created ...): the backup then reads everything and says why
     */
    void mapChangesSince(int sinceSequence, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException;
}
