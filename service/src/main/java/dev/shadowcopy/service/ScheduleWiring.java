package dev.shadowcopy.service;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.service.backup.BackupJob;
import dev.shadowcopy.service.backup.Backups;
import dev.shadowcopy.service.backup.RepositoryAccess;
import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.SetRecord;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.ops.Sessions;
import dev.shadowcopy.service.ops.ShadowCopies;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.schedule.ScheduleHost;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.volume.ManagedVolume;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The scheduler's view of the service: its sets, deletes, limits and backups (see {@link ScheduleHost}). */
final class ScheduleWiring implements ScheduleHost {
    /** How long a run waits for another set in progress before it fails (then the next elapse runs). */
    private static final Duration BUSY_RETRY = Duration.ofSeconds(60);

    private final Catalog catalog;
    private final EventLog events;
    private final Volumes volumes;
    private final ShadowCopies shadows;
    private final Sessions sessions;
    private final Backups backups;

    ScheduleWiring(Catalog catalog, EventLog events, Volumes volumes, ShadowCopies shadows, Sessions sessions,
                   Backups backups) {
        this.catalog = catalog;
        this.events = events;
        this.volumes = volumes;
        this.shadows = shadows;
        this.sessions = sessions;
        this.backups = backups;
    }

    @Override
    public List<Copy> copies() {
        List<Copy> out = new ArrayList<>();
        for (ShadowRecord r : catalog.copies()) {
            if (r.state() != ShadowRecord.State.CREATED) {
                continue;
            }
            String session = r.setId() == null ? null : catalog.set(r.setId()).map(SetRecord::sessionId)
                    .map(Object::toString).orElse(null);
            out.add(new Copy(r.id().toString(), r.setId() == null ? null : r.setId().toString(), session, r.volume(),
                    r.created(), r.isProtected()));
        }
        return out;
    }

    @Override
    public int room(String volume) throws IOException {
        if (volumes.btrfs(volume) != null) {
            return Integer.MAX_VALUE;
        }
        ManagedVolume v = volumes.get(volume);
        int engine = v.config().maxShadowCopies() - v.shadowCopies().size();
        long accessible = catalog.copies().stream().filter(c -> c.volume().equals(volume)
                && (c.attributes() & Attributes.CLIENT_ACCESSIBLE) != 0).count();
        return (int) Math.min(engine, SnapshotSetCreator.MAX_CLIENT_ACCESSIBLE_PER_VOLUME - accessible);
    }

    @Override
    public String openSession(String owner) throws IOException {
        Session s = sessions.open(Context.parse("client-accessible-writers"), "full", Set.of(), Set.of(), owner, null);
        return s.id().toString();
    }

    @Override
    public List<String> createSet(String session, List<String> names) throws IOException {
        Session s;
        try {
            s = sessions.get(session);
        } catch (ServiceException e) {
            throw new IOException("session " + session + " of the scheduled run is gone", e);
        }
        Instant giveUp = Instant.now().plus(BUSY_RETRY);
        long backoff = 200;
        while (true) {
            try {
                SnapshotSetCreator.CreatedSet made = sessions.createSet(s, names, null);
                sessions.backupComplete(s); // persistent copies with writers: the writers may truncate logs
                return made.copies().stream().map(r -> r.id().toString()).toList();
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
        sessions.list().stream().filter(s -> s.id().toString().equals(session)).findFirst()
                .ifPresent(s -> sessions.release(s, "scheduled run done"));
    }

    @Override
    public void delete(String copyId, String why) throws IOException {
        ShadowCopies.DeleteResult r = shadows.delete(ShadowCopies.Selector.shadow(copyId));
        if (!r.refused().isEmpty()) {
            throw new ServiceException(VssError.PROTECTED, "shadow copy " + copyId + " is protected");
        }
    }

    @Override
    public String backup(List<String> names, String repository, String label, boolean verify) throws IOException {
        BackupJob.Result r = backups.backup(new BackupJob.Request(names, repository, false, null, label,
                Math.max(1, Runtime.getRuntime().availableProcessors()), Set.of(), verify), Progress.NONE);
        if (r.verification() != null && !r.verification().ok()) {
            throw new IOException("backup " + r.manifest().id() + " was written but is not proven restorable: "
                    + r.verification().firstProblem() + " (retention deleted nothing)");
        }
        return r.manifest().id();
    }

    @Override
    public List<BackupPoint> backups(String repository, String label) throws IOException {
        List<BackupPoint> out = new ArrayList<>();
        try (Repository repo = RepositoryAccess.open(repository, null)) {
            BackupStore store = BackupStore.of(repo);
            for (String id : store.ids()) {
                try {
                    Manifest m = store.manifest(id);
                    if (label.equals(m.label())) {
                        out.add(new BackupPoint(id, Instant.parse(m.created())));
                    }
                } catch (IOException e) {
                    // an unreadable point is never pruned: verify reports it, the admin decides
                }
            }
        }
        return out;
    }

    @Override
    public void deleteBackups(String repository, List<String> ids) throws IOException {
        try (Repository repo = RepositoryAccess.open(repository, null)) {
            try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.EXCLUSIVE, Duration.ofMinutes(10),
                    "the retention of a schedule")) {
                BackupStore store = BackupStore.of(repo);
                for (String id : ids) {
                    store.delete(id);
                }
            }
            GarbageCollector.collect(repo, Duration.ofMinutes(10));
        }
    }

    @Override
    public void event(String type, String level, String message, Map<String, Object> details) {
        events.append(type, level, message, details);
    }
}
