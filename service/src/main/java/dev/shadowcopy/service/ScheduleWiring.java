package dev.shadowcopy.service;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.service.backup.BackupJob;
import dev.shadowcopy.service.backup.RepositoryAccess;
import dev.shadowcopy.service.catalog.SetRecord;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.schedule.ScheduleHost;
import dev.shadowcopy.service.sequence.Attributes;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.volume.ManagedVolume;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/** The scheduler's view of the service: its sets, deletes, limits and backups (see {@link ScheduleHost}). */
final class ScheduleWiring implements ScheduleHost {
    /** How long a run waits for another set in progress before it fails (then the next elapse runs). */
    private static final Duration BUSY_RETRY = Duration.ofSeconds(60);

    private final Service service;

    ScheduleWiring(Service service) {
        this.service = service;
    }

    @Override
    public List<Copy> copies() {
        List<Copy> out = new ArrayList<>();
        for (ShadowRecord r : service.catalog().copies()) {
            if (!"created".equals(r.state())) {
                continue;
            }
            String session = service.catalog().set(r.setId()).map(SetRecord::sessionId).orElse(null);
            out.add(new Copy(r.id(), r.setId(), session, r.volume(), Instant.parse(r.created()),
                    Service.isProtected(r)));
        }
        return out;
    }

    @Override
    public int room(String volume) throws IOException {
        if (service.btrfs().find(volume) != null) {
            return Integer.MAX_VALUE;
        }
        ManagedVolume v = service.volumes().get(volume);
        int engine = v.config().maxShadowCopies() - v.shadowCopies().size();
        long accessible = service.catalog().copies().stream().filter(c -> c.volume().equals(volume)
                && (c.attributes() & Attributes.CLIENT_ACCESSIBLE) != 0).count();
        return (int) Math.min(engine, SnapshotSetCreator.MAX_CLIENT_ACCESSIBLE_PER_VOLUME - accessible);
    }

    @Override
    public String openSession(String owner) throws IOException {
        Session s = service.openSession(Context.parse("client-accessible-writers"), "full", Set.of(), Set.of(), owner,
                null);
        return s.id().toString();
    }

    @Override
    public List<String> createSet(String session, List<String> volumes) throws IOException {
        Session s = service.sessions().find(UUID.fromString(session)).orElseThrow(() -> new IOException("session "
                + session + " of the scheduled run is gone"));
        Instant giveUp = Instant.now().plus(BUSY_RETRY);
        long backoff = 200;
        while (true) {
            try {
                SnapshotSetCreator.CreatedSet made = service.createSet(s, volumes, null);
                service.backupComplete(s); // persistent copies with writers: the writers may truncate logs
                return made.copies().stream().map(ShadowRecord::id).toList();
            } catch (ServiceException e) {
                if (e.error() != VssError.SNAPSHOT_SET_IN_PROGRESS || Instant.now().isAfter(giveUp)) {
                    throw e;
                }
            }
            try {
                Thread.sleep(backoff); // another requester's set holds the creator; bounded by BUSY_RETRY
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while another set was being made");
            }
            backoff = Math.min(backoff * 2, 5000);
        }
    }

    @Override
    public void closeSession(String session) {
        service.sessions().find(UUID.fromString(session)).ifPresent(s -> service.release(s, "scheduled run done"));
    }

    @Override
    public void delete(String copyId, String why) throws IOException {
        Service.DeleteResult r = service.deleteShadows(new Service.Selector(copyId, null, null, false, false));
        if (!r.refused().isEmpty()) {
            throw new ServiceException(VssError.PROTECTED, "shadow copy " + copyId + " is protected");
        }
    }

    @Override
    public String backup(List<String> volumes, Path repository, String label) throws IOException {
        BackupJob.Result r = BackupJob.run(service, new BackupJob.Request(volumes, repository, false, null, label,
                Math.max(1, Runtime.getRuntime().availableProcessors()), Set.of()), Progress.NONE);
        return r.manifest().id();
    }

    @Override
    public List<BackupPoint> backups(Path repository, String label) throws IOException {
        Repository repo = RepositoryAccess.open(repository, null);
        List<BackupPoint> out = new ArrayList<>();
        for (String id : repo.backups().ids()) {
            try {
                Manifest m = repo.backups().manifest(id);
                if (label.equals(m.label())) {
                    out.add(new BackupPoint(id, Instant.parse(m.created())));
                }
            } catch (IOException e) {
                // an unreadable point is never pruned: verify reports it, the admin decides
            }
        }
        return out;
    }

    @Override
    public void deleteBackups(Path repository, List<String> ids) throws IOException {
        Repository repo = RepositoryAccess.open(repository, null);
        try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.EXCLUSIVE, Duration.ofMinutes(10),
                "the retention of a schedule")) {
            for (String id : ids) {
                repo.backups().delete(id);
            }
        }
        GarbageCollector.collect(repo, Duration.ofMinutes(10));
    }

    @Override
    public void event(String type, String level, String message, Map<String, Object> details) {
        service.events().append(type, level, message, details);
    }
}
