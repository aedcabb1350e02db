package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Instant recovery ({@code backups serve}): a volume of a backup point as a block device read straight from the
 * repository, before any restore. Read-only, or with a throw-away overlay in the repository's {@code tmp/} taking
 * the writes (deleted on {@link #close}), so a virtual machine can boot the backup.
 */
public final class InstantRecovery implements AutoCloseable {
    private final Storage storage;
    private final String backup;
    private final String volume;
    private final BlockDevice device;
    private final Path overlay;

    private InstantRecovery(Storage storage, String backup, String volume, BlockDevice device, Path overlay) {
        this.storage = storage;
        this.backup = backup;
        this.volume = volume;
        this.device = device;
        this.overlay = overlay;
    }

    /** Opens volume {@code volume} of backup {@code idOrPrefix}; writable through an overlay when asked. */
    public static InstantRecovery open(Repository repo, String idOrPrefix, String volume, boolean writable)
            throws IOException {
        BackupStore store = BackupStore.of(repo);
        String backup = store.resolve(idOrPrefix);
        Manifest m = store.manifest(backup);
        Manifest.VolumeEntry v = m.volume(volume);
        if (v == null) {
            throw new IllegalArgumentException("backup " + backup + " has no volume " + volume);
        }
        BlockDevice base = new RepositoryDevice(repo, m, v);
        if (!writable) {
            return new InstantRecovery(repo.storage(), backup, volume, base, null);
        }
        Path overlayPath = repo.tmpDir().resolve("overlay-" + backup + "-"
                + Long.toUnsignedString(ThreadLocalRandom.current().nextLong()) + ".img");
        BlockDevice dev = OverlayDevice.create(base, repo.storage(), overlayPath, "overlay of " + base.name());
        return new InstantRecovery(repo.storage(), backup, volume, dev, overlayPath);
    }

    /** The backup id the request resolved to. */
    public String backup() {
        return backup;
    }

    public String volume() {
        return volume;
    }

    /** The device to serve: the backup point, or the overlay over it. */
    public BlockDevice device() {
        return device;
    }

    public boolean writable() {
        return overlay != null;
    }

    /** Closes the overlay and deletes it (its writes were throw-away). */
    @Override
    public void close() throws IOException {
        if (device instanceof OverlayDevice o) {
            o.close();
        }
        if (overlay != null) {
            storage.delete(overlay);
        }
    }
}
