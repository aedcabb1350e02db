package dev.shadowcopy.service;

import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.service.catalog.SetRecord;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.schedule.Scheduler;
import dev.shadowcopy.service.versions.CopyMounts;
import dev.shadowcopy.service.versions.SambaShares;
import dev.shadowcopy.service.versions.Versions;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * Issue 18's roles, wired to a running service: schedules ({@link Scheduler}), previous versions of files
 * ({@link Versions}), the service's own copy mounts ({@link CopyMounts}) and Samba shares ({@link SambaShares}).
 * Started after the service (whose start took over the exposures these mounts are) and closed before it.
 */
public final class PreviousVersions implements AutoCloseable {
    /** Seconds an on-demand copy mount stays after its last use ({@code daemon --versions-idle}). */
    public static final String IDLE_PROPERTY = "shadowcopy.versions.idle";

    private final Scheduler scheduler;
    private final SambaShares shares;
    private final CopyMounts mounts;
    private final Versions versions;
    private final VersionsWiring host;
    private final Service service;

    private PreviousVersions(Service service, Scheduler scheduler, SambaShares shares, CopyMounts mounts,
                             VersionsWiring host) {
        this.service = service;
        this.scheduler = scheduler;
        this.shares = shares;
        this.mounts = mounts;
        this.host = host;
        this.versions = new Versions(host, mounts);
    }

    public static PreviousVersions start(Service service) throws IOException {
        Path state = service.config().state();
        VersionsWiring host = new VersionsWiring(service);
        SambaShares shares = SambaShares.open(state, LocalStorage.INSTANCE, p -> service.events()
                .append("shares-unreadable", "error", p, Map.of()));
        CopyMounts mounts = CopyMounts.start(state, host, shares, Duration.ofSeconds(Integer.getInteger(IDLE_PROPERTY,
                60)));
        service.automaticExposures(mounts::isAutomatic);
        Scheduler scheduler;
        try {
            scheduler = Scheduler.start(state, LocalStorage.INSTANCE, new ScheduleWiring(service));
        } catch (IOException | RuntimeException e) {
            mounts.close();
            throw e;
        }
        return new PreviousVersions(service, scheduler, shares, mounts, host);
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    public SambaShares shares() {
        return shares;
    }

    public CopyMounts mounts() {
        return mounts;
    }

    public Versions versions() {
        return versions;
    }

    /** The service's state directory (private: nothing smbd's users must reach may be inside). */
    public Path stateDir() {
        return service.config().state().toAbsolutePath().normalize();
    }

    /** Where {@code volume}'s file system is mounted now, or null. */
    public Path mountPoint(String volume) throws IOException {
        return host.mountPoint(volume);
    }

    /** The schedule that made {@code copy}, or null (for {@code list shadows}). */
    public String scheduleOf(ShadowRecord copy) {
        return service.catalog().set(copy.setId()).map(SetRecord::sessionId)
                .flatMap(scheduler::scheduleOfSession).orElse(null);
    }

    /** Stops the scheduler (after a run in progress) and the idle clock; mounts stay, as exposures do. */
    @Override
    public void close() {
        scheduler.close();
        mounts.close();
    }
}
