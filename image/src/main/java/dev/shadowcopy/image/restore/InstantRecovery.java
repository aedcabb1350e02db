package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.HeldRepositoryLock;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Instant recovery ({@code backups serve}): a volume of a backup point as a block device read straight from the
 * repository, before any restore. Read-only; or writable, with the writes in a throw-away overlay in the repository's
 * {@code tmp/} (deleted on {@link #close}); or writable with a durable overlay the user names ({@link ServeOverlay}):
 * what a flush acknowledged survives a kill of the server and a reboot, and serving the same point again with the
 * same overlay continues where it stopped.
 *
 * <p>While open it holds the repository's shared lock, so that a prune or garbage collection cannot take away a
 * chunk the served volume needs (they wait, and give up with "repository is in use").
 */
public final class InstantRecovery implements AutoCloseable {
    private final Storage storage;
    private final String backup;
    private final String volume;
    private final BlockDevice device;
    private final Path throwAway;
    private final ServeOverlay durable;
    private final HeldRepositoryLock lock;

    private InstantRecovery(Storage storage, String backup, String volume, BlockDevice device, Path throwAway,
                            ServeOverlay durable, HeldRepositoryLock lock) {
        this.storage = storage;
        this.backup = backup;
        this.volume = volume;
        this.device = device;
        this.throwAway = throwAway;
        this.durable = durable;
        this.lock = lock;
    }

    /** Opens volume {@code volume} of backup {@code idOrPrefix}; writable through a throw-away overlay when asked. */
    public static InstantRecovery open(Repository repo, String idOrPrefix, String volume, boolean writable)
            throws IOException {
        return open(repo, idOrPrefix, volume, writable, null);
    }

    /**
     * Opens volume {@code volume} of backup {@code idOrPrefix}: read-only, or writable through a throw-away overlay,
     * or — {@code overlay} not null — through the durable overlay at that path (made if missing; refused when it
     * lies on another backup point or volume, or another process uses it).
     */
    public static InstantRecovery open(Repository repo, String idOrPrefix, String volume, boolean writable,
                                       Path overlay) throws IOException {
        if (overlay != null && !writable) {
            throw new IllegalArgumentException("--overlay keeps writes: it needs --writable");
        }
        HeldRepositoryLock lock = HeldRepositoryLock.acquire(repo, RepositoryLock.Mode.SHARED, Duration.ofSeconds(30),
                "instant recovery"); // let go by whoever stops the server (a shutdown hook)
        try {
            BackupStore store = BackupStore.of(repo);
            String backup = store.resolve(idOrPrefix);
            Manifest m = store.manifest(backup);
            Manifest.VolumeEntry v = m.volume(volume);
            if (v == null) {
                throw new IllegalArgumentException("backup " + backup + " has no volume " + volume);
            }
            BlockDevice base = new RepositoryDevice(repo, m, v);
            if (!writable) {
                return new InstantRecovery(repo.storage(), backup, volume, base, null, null, lock);
            }
            if (overlay != null) {
                ServeOverlay o = ServeOverlay.open(overlay, base, repo.config().id(), backup, volume);
                return new InstantRecovery(repo.storage(), backup, volume, o.device(), null, o, lock);
            }
            Path overlayPath = repo.tmpDir().resolve("overlay-" + backup + "-"
                    + Long.toUnsignedString(ThreadLocalRandom.current().nextLong()) + ".img");
            BlockDevice dev = OverlayDevice.create(base, repo.storage(), overlayPath, "overlay of " + base.name());
            return new InstantRecovery(repo.storage(), backup, volume, dev, overlayPath, null, lock);
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e;
        }
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
        return throwAway != null || durable != null;
    }

    /** The durable overlay, or null. */
    public ServeOverlay overlay() {
        return durable;
    }

    /**
     * Closes the device. A throw-away overlay is deleted (its writes were throw-away); a durable one is flushed and
     * kept for the next serve.
     */
    @Override
    public void close() throws IOException {
        try {
            if (durable != null) {
                durable.close();
            } else if (device instanceof OverlayDevice o) {
                o.close();
            }
            if (throwAway != null) {
                storage.delete(throwAway);
            }
        } finally {
            lock.close();
        }
    }
}
