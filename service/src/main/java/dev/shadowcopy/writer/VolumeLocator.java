package dev.shadowcopy.writer;

import java.nio.file.Path;
import java.util.Optional;

/** Which managed volume holds a path (through the local block device it is attached as), if any. */
@FunctionalInterface
public interface VolumeLocator {
    VolumeLocator NONE = p -> Optional.empty();

    Optional<String> volumeOf(Path path);
}
