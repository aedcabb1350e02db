package dev.shadowcopy.image.manifest;

import dev.shadowcopy.platform.Formats;
import java.util.List;
import java.util.Map;

/**
 * A backup point: what was backed up, when, how consistent, and the documents a restore needs (the writers'
 * metadata and the backup components document). Each volume's chunks are in its own index file, pinned here
 * by SHA-256 so that an index cannot be swapped or damaged unnoticed.
 *
 * @param id          {@code YYYYMMDD-HHMMSS-xxxx} (UTC of the shadow copy instant), sortable
 * @param created     the instant of the shadow copy set the data was read from
 * @param consistency {@code application-consistent} (writers took part and all succeeded),
 *                    {@code crash-consistent} (no writers), or {@code inconsistent} (some writer failed)
 */
public record Manifest(int format, String id, String created, String finished, String host, String label,
                       String setId, String context, String consistency, List<VolumeEntry> volumes,
                       List<WriterEntry> writers, Map<String, Object> components) {
    public static final int FORMAT = Formats.MANIFEST_FORMAT;

    public Manifest {
        volumes = volumes == null ? List.of() : List.copyOf(volumes);
        writers = writers == null ? List.of() : List.copyOf(writers);
    }

    /**
     * One volume of a backup point.
     *
     * @param mode           {@code full}, {@code incremental} (read only what change tracking reported), or
     *                       {@code full-rescan} (a previous backup existed but tracking could not be trusted:
     *                       everything read, only what differs stored)
     * @param base           the backup point an incremental read its unchanged chunks from
     * @param allocatedBytes bytes of the volume that hold data (non-zero chunks × their length)
     * @param bytesRead      bytes read from the shadow copy for this backup
     * @param storedBytes    bytes of new chunk files this backup added to the repository
     * @param recoveryExtents [offset, length] pairs auto-recovery changed in the copy (null or empty: none)
     */
    public record VolumeEntry(int ordinal, String name, String volumeId, long size, int chunkSize,
                              String shadowCopyId, int sequence, String mode, String reason, String base,
                              long allocatedBytes, long bytesRead, long newChunks, long storedBytes, long chunks,
                              long zeroChunks, String indexSha256, List<long[]> recoveryExtents) {}

    /** A writer that took part, with its state at the end and its metadata document (XML). */
    public record WriterEntry(String name, String kind, String state, String failure, String message,
                              String metadata) {}

    public VolumeEntry volume(String name) {
        for (VolumeEntry v : volumes) {
            if (v.name().equals(name)) {
                return v;
            }
        }
        return null;
    }
}
