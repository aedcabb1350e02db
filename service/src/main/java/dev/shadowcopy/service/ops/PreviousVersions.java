package dev.shadowcopy.service.ops;

import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.SetRecord;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.schedule.Scheduler;
import dev.shadowcopy.service.versions.CopyMounts;
import dev.shadowcopy.service.versions.SambaShares;
import dev.shadowcopy.service.versions.Versions;
import dev.shadowcopy.service.versions.VersionsHost;
import java.io.IOException;
import java.nio.file.Path;
import java.util.NoSuchElementException;
import java.util.UUID;

/**
 * Issue 18's roles, as the API calls them: schedules ({@link Scheduler}), previous versions of files
 * ({@link Versions}), the service's own copy mounts ({@link CopyMounts}) and Samba shares ({@link SambaShares}).
 * The service's wiring makes it after the service started (whose start took over the exposures these mounts are)
 * and closes it before the service.
 */
public final class PreviousVersions implements AutoCloseable {
    /** Seconds an on-demand copy mount stays after its last use ({@code daemon --versions-idle}). */
    public static final String IDLE_PROPERTY = "shadowcopy.versions.idle";

    private final Scheduler scheduler;
    private final SambaShares shares;
    private final CopyMounts mounts;
    private final Versions versions;
    private final VersionsHost host;
    private final Catalog catalog;
    private final Path stateDir;

    /** A volume shared over Samba, and where its file system is mounted (the share's path). */
    public record Shared(SambaShares.Share share, Path mountPoint) {}

    public PreviousVersions(Scheduler scheduler, SambaShares shares, CopyMounts mounts, VersionsHost host,
                            Catalog catalog, Path stateDir) {
        this.scheduler = scheduler;
        this.shares = shares;
        this.mounts = mounts;
        this.host = host;
        this.catalog = catalog;
        this.stateDir = stateDir.toAbsolutePath().normalize();
        this.versions = new Versions(host, mounts);
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    public SambaShares shares() {
        return shares;
    }

    public Versions versions() {
        return versions;
    }

    /** The schedule that made {@code copy}, or null (for {@code list shadows}). */
    public String scheduleOf(ShadowRecord copy) {
        if (copy.setId() == null) {
            return null;
        }
        return catalog.set(copy.setId()).map(SetRecord::sessionId).map(UUID::toString)
                .flatMap(scheduler::scheduleOfSession).orElse(null);
    }

    /**
     * Shares {@code volume} (attached and mounted) as {@code name}, its copies mounted under {@code snapdir}
     * ({@link SambaShares#DEFAULT_ROOT}/VOLUME when null), which must be outside the volume's mount and outside the
     * service's private state directory. The snapshot directory is current on return.
     */
    public Shared share(String volume, String name, Path snapdir) throws IOException {
        Path mp = host.mountPoint(volume);
        if (mp == null) {
            throw new ServiceException(VssError.BAD_STATE, "volume " + volume + " is not mounted: attach it "
                    + "('shadowcopy volume attach " + volume + "') and mount its device first; the share's path is "
                    + "its mount point");
        }
        Path dir = snapdir == null ? SambaShares.DEFAULT_ROOT.resolve(volume) : snapdir;
        if (dir.startsWith(mp)) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "the snapshot directory " + dir + " is "
                    + "inside the volume's own mount " + mp + " (its copies would contain mounts of themselves); "
                    + "choose a directory outside it");
        }
        if (dir.startsWith(stateDir)) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "the snapshot directory " + dir + " is "
                    + "inside the service's private state directory, which smbd's users cannot reach");
        }
        SambaShares.Share share = shares.add(new SambaShares.Share(volume, name, dir.toString()));
        mounts.tick(); // the directory is current before the answer
        return new Shared(share, mp);
    }

    /** Stops sharing {@code volume}; {@link NoSuchElementException} if it is not shared. */
    public SambaShares.Share unshare(String volume) throws IOException {
        return shares.remove(volume).orElseThrow(() -> new NoSuchElementException("volume " + volume
                + " is not shared"));
    }

    /** Stops the scheduler (after a run in progress) and the idle clock; mounts stay, as exposures do. */
    @Override
    public void close() {
        scheduler.close();
        mounts.close();
    }
}
