package dev.shadowcopy.image.backup;

import dev.shadowcopy.volume.BlockDevice;

/**
 * One volume to back up: the shadow copy to read (never the live volume) and its identity, so the next
 * backup can find this one as its base.
 *
 * @param volumeId     the volume's UUID (a re-created volume of the same name gets a full backup)
 * @param sequence     the copy's sequence, what the next incremental asks change tracking about
 * @param changes      null when the source has no change tracking (every backup reads everything)
 */
public record VolumeSource(String name, String volumeId, String shadowCopyId, int sequence, BlockDevice device,
                           ChangeTracker changes) {}
