package dev.shadowcopy.image.backup;

import dev.shadowcopy.device.BlockDevice;
import java.util.List;

/**
 * One volume to back up: the shadow copy to read (never the live volume) and its identity, so the next
 * backup can find this one as its base.
 *
 * @param volumeId     the volume's UUID (a re-created volume of the same name gets a full backup)
 * @param sequence     the copy's sequence, what the next incremental asks change tracking about
 * @param changes      null when the source has no change tracking (every backup reads everything)
 * @param recoveryExtents [offset, length] pairs that auto-recovery changed in this copy (they differ from the
 *                     live volume, so the next incremental must read them again even if tracking says unchanged)
 */
public record VolumeSource(String name, String volumeId, String shadowCopyId, int sequence, BlockDevice device,
                           ChangeTracker changes, List<long[]> recoveryExtents) {
    public VolumeSource {
        recoveryExtents = recoveryExtents == null ? List.of() : List.copyOf(recoveryExtents);
    }

    public VolumeSource(String name, String volumeId, String shadowCopyId, int sequence, BlockDevice device,
                        ChangeTracker changes) {
        this(name, volumeId, shadowCopyId, sequence, device, changes, List.of());
    }
}
