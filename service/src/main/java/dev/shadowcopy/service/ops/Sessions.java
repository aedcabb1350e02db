package dev.shadowcopy.service.ops;

import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.catalog.WriterRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SessionManager;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.service.sequence.WriterStatus;
import dev.shadowcopy.writer.WriterCall;
import dev.shadowcopy.writer.WriterEvent;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Requesters' backup sessions (VSS's backup components): open one, make its set, tell its writers BackupComplete,
 * release it — which sends BackupShutdown and deletes its auto-release copies (never a protected one). A session
 * with a lease is released by a reaper when the lease runs out; one bound to a connection when it closes (the API
 * arranges that).
 *
 * <p>Locking: each session's {@link Session#lock()} is held while it is driven (set, backup complete, release), so a
 * release caused by a dying connection waits for a creation in progress. The catalog and event log lock themselves.
 */
public final class Sessions implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Sessions.class.getName());

    private final SessionManager sessions;
    private final SnapshotSetCreator creator;
    private final Catalog catalog;
    private final EventLog events;
    private final ShadowCopies shadows;
    private final ScheduledExecutorService reaper;

    public Sessions(SessionManager sessions, SnapshotSetCreator creator, Catalog catalog, EventLog events,
                    ShadowCopies shadows) {
        this.sessions = sessions;
        this.creator = creator;
        this.catalog = catalog;
        this.events = events;
        this.shadows = shadows;
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon()
                .name("session-reaper").unstarted(r));
        reaper.scheduleWithFixedDelay(this::reapLeases, 1, 1, TimeUnit.SECONDS);
    }

    public List<Session> list() {
        return sessions.list();
    }

    /** The open session {@code id}; {@code INVALID_ARGUMENT} for a malformed id, {@code OBJECT_NOT_FOUND} if gone. */
    public Session get(String id) throws ServiceException {
        return sessions.get(id);
    }

    /** True while a set is being made (by any session). */
    public boolean creating() {
        return creator.busy();
    }

    /**
     * Opens a backup session. Bound to the caller's connection when {@code lease} is null (it is released when
     * that connection closes), else it lives while renewed within {@code lease}.
     */
    public Session open(Context context, String backupType, Set<String> exclude, Set<String> verify, String owner,
                        Duration lease) throws ServiceException {
        Session s = new Session(UUID.randomUUID(), context, backupType, exclude, verify, owner,
                lease == null ? null : Instant.now().plus(lease));
        sessions.open(s);
        events.append("session-opened", "info", "backup session " + s.id() + " opened by " + owner + " (context "
                + context.wireName() + ")", Map.of("session", s.id().toString()));
        return s;
    }

    /** Makes the session's one set of copies of {@code volumeNames} (DoSnapshotSet with the writers around it). */
    public SnapshotSetCreator.CreatedSet createSet(Session s, List<String> volumeNames, Instant protectUntil)
            throws ServiceException {
        s.lock().lock();
        try {
            if (s.state() == Session.State.RELEASED) {
                throw new ServiceException(VssError.BAD_STATE, "session " + s.id() + " was released");
            }
            try {
                return creator.create(s, volumeNames, protectUntil);
            } finally {
                recordWriters(s);
            }
        } finally {
            s.lock().unlock();
        }
    }

    /** VSS's BackupComplete: writers may truncate logs now. Failures are reported, not fatal. */
    public List<WriterCall.Outcome> backupComplete(Session s) throws ServiceException {
        s.lock().lock();
        try {
            if (s.state() != Session.State.SNAPSHOTTED) {
                throw new ServiceException(VssError.BAD_STATE, "backup complete is only valid after a successful "
                        + "set in the same session (session is " + s.state().name().toLowerCase() + ")");
            }
            List<WriterCall.Outcome> failures = creator.notify(s, WriterEvent.BACKUP_COMPLETE);
            s.state(Session.State.COMPLETED);
            for (WriterCall.Outcome o : failures) {
                events.append("writer-failed", "warning", "writer " + o.writer().name() + " failed at backup-complete: "
                        + o.message(), Map.of("writer", o.writer().name(), "session", s.id().toString()));
            }
            recordWriters(s);
            return failures;
        } finally {
            s.lock().unlock();
        }
    }

    /** Renews a leased session for {@code seconds} (or its original lease); refused for a connection-bound one. */
    public void keepAlive(Session s, Long seconds) throws ServiceException {
        if (s.leaseUntil() == null) {
            throw new ServiceException(VssError.BAD_STATE, "session " + s.id() + " is bound to its connection and "
                    + "has no lease to renew");
        }
        long secs = seconds != null ? seconds : Duration.between(s.created(), s.leaseUntil()).toSeconds();
        s.renew(Instant.now().plusSeconds(Math.max(1, secs)));
    }

    /** Ends a session: BackupShutdown to its writers, its auto-release copies deleted. Idempotent. */
    public void release(Session s, String why) {
        s.lock().lock();
        try {
            if (s.state() == Session.State.RELEASED) {
                return;
            }
            s.state(Session.State.RELEASED);
            sessions.remove(s.id());
            for (WriterCall.Outcome o : creator.notify(s, WriterEvent.BACKUP_SHUTDOWN)) {
                events.append("writer-failed", "warning", "writer " + o.writer().name() + " failed at backup-shutdown: "
                        + o.message(), Map.of("writer", o.writer().name()));
            }
            recordWriters(s);
            List<String> released = new ArrayList<>();
            for (ShadowRecord r : catalog.copies()) {
                if (s.id().equals(r.sessionId()) && (r.attributes() & Attributes.NO_AUTO_RELEASE) == 0) {
                    try {
                        if (ShadowCopies.isProtected(r)) {
                            continue; // protection wins over auto-release
                        }
                        shadows.deleteOne(r, "released with session " + s.id());
                        released.add(r.id().toString());
                    } catch (IOException e) {
                        events.append("release-failed", "error", "cannot release shadow copy " + r.id() + ": "
                                + e.getMessage(), Map.of("shadow", r.id().toString()));
                    }
                }
            }
            events.append("session-released", "info", "backup session " + s.id() + " ended (" + why + ")"
                    + (released.isEmpty() ? "" : "; released " + released.size() + " shadow copies"),
                    Map.of("session", s.id().toString(), "released", released));
        } finally {
            s.lock().unlock();
        }
    }

    private void reapLeases() {
        try {
            for (Session s : sessions.expired(Instant.now())) {
                release(s, "its lease ran out");
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "session reaper: {0}", e.toString());
        }
    }

    /** Keeps each writer's last state for {@code list writers}, across restarts. */
    private void recordWriters(Session s) {
        for (WriterStatus w : s.writerStatus()) {
            try {
                catalog.putWriter(new WriterRecord(w.name(), w.kind(), Instant.now(), w.state(), w.failure(),
                        w.message()));
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot record writer state: {0}", e.toString());
            }
        }
    }

    /** Stops the reaper and releases every session (the service is stopping). */
    @Override
    public void close() {
        reaper.shutdownNow();
        for (Session s : sessions.list()) {
            release(s, "the service is stopping");
        }
    }
}
