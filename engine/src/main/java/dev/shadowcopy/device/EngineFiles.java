package dev.shadowcopy.device;

import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import java.nio.file.Path;
import java.util.Objects;
import java.util.UUID;

/**
 * The files of one software-provider volume (any layout).
 *
 * @param volumeName name for messages
 * @param volumeId   identity stamped into every metadata file, so that files of two volumes cannot be mixed
 * @param storage    the file system (real, or simulated in tests)
 * @param metaDir    directory of the journal generations and the checkpoint
 * @param originPath where the live data is (a regular file or a block device)
 * @param origin     the live data, already open read-write
 * @param size       the volume size in bytes (may be less than the origin's size)
 * @param chunkSize  copy-on-write granularity
 * @param diffPath   the shadow storage file (created if missing)
 */
public record EngineFiles(String volumeName, UUID volumeId, Storage storage, Path metaDir, Path originPath,
                          StorageFile origin, long size, int chunkSize, Path diffPath) {
    public EngineFiles {
        Objects.requireNonNull(volumeName);
        Objects.requireNonNull(volumeId);
        Objects.requireNonNull(storage);
        Objects.requireNonNull(metaDir);
        Objects.requireNonNull(originPath);
        Objects.requireNonNull(origin);
        Objects.requireNonNull(diffPath);
    }
}
