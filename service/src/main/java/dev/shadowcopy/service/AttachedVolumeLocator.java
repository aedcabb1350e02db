package dev.shadowcopy.service;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeManager;
import dev.shadowcopy.writer.VolumeLocator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds the managed volume a path lives on: the file system holding it was mounted from a block device
 * ({@code st_dev}), and each attached volume is a loop device ({@code st_rdev}); equal numbers mean that
 * volume. Paths on anything else belong to no managed volume.
 */
final class AttachedVolumeLocator implements VolumeLocator {
    private final VolumeManager volumes;
    private final Attacher attacher;

    AttachedVolumeLocator(VolumeManager volumes, Attacher attacher) {
        this.volumes = volumes;
        this.attacher = attacher;
    }

    @Override
    public Optional<String> volumeOf(Path path) {
        long dev;
        try {
            dev = ((Number) Files.getAttribute(existing(path), "unix:dev")).longValue();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
        for (ManagedVolume v : volumes.list()) {
            Attachment a = attacher.find(Volumes.key(v.name())).orElse(null);
            if (a == null) {
                continue;
            }
            try {
                long rdev = ((Number) Files.getAttribute(Path.of(a.loopDevice()), "unix:rdev", LinkOption.NOFOLLOW_LINKS))
                        .longValue();
                if (rdev == dev) {
                    return Optional.of(v.name());
                }
            } catch (IOException | RuntimeException e) {
                // a detached loop device: not this one
            }
        }
        return Optional.empty();
    }

    /** The path, or its nearest existing parent (a tablespace may not exist yet). */
    private static Path existing(Path p) {
        Path q = p.toAbsolutePath();
        while (q != null && !Files.exists(q)) {
            q = q.getParent();
        }
        return q == null ? p : q;
    }
}
