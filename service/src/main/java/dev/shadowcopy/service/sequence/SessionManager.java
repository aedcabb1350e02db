package dev.shadowcopy.service.sequence;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/** The open backup sessions, with VSS's limit of {@value #MAX_SESSIONS} at a time. */
public final class SessionManager {
    public static final int MAX_SESSIONS = 64;
    private final Map<UUID, Session> sessions = new ConcurrentHashMap<>();

    public synchronized Session open(Session s) throws ServiceException {
        if (sessions.size() >= MAX_SESSIONS) {
            throw new ServiceException(VssError.MAXIMUM_SESSIONS_REACHED, "there are already " + MAX_SESSIONS
                    + " backup sessions open; release one (or wait for one to end) and retry");
        }
        sessions.put(s.id(), s);
        return s;
    }

    public Optional<Session> find(UUID id) {
        return Optional.ofNullable(sessions.get(id));
    }

    public Session get(String id) throws ServiceException {
        UUID u;
        try {
            u = UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + id + "' is not a session id");
        }
        Session s = sessions.get(u);
        if (s == null) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "no open session " + id + " (it may have been "
                    + "released when its connection closed or its lease ran out)");
        }
        return s;
    }

    public void remove(UUID id) {
        sessions.remove(id);
    }

    public List<Session> list() {
        return List.copyOf(sessions.values());
    }

    /** Sessions whose lease ran out by {@code now}. */
    public List<Session> expired(Instant now) {
        return sessions.values().stream().filter(s -> s.leaseUntil() != null && now.isAfter(s.leaseUntil())).toList();
    }
}
