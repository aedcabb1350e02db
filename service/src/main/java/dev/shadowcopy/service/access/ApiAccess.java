package dev.shadowcopy.service.access;

import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.peer.Caller;
import dev.shadowcopy.service.peer.Role;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The API's authorization: what each {@link Role} may touch, asked by the routes at the point where they take
 * a volume name, a path, or the id of a session or writer. Administrators may do anything (their paths are
 * still made canonical); operators only what {@link AccessConfig} names, and only sessions and writers they
 * opened themselves.
 *
 * <p>Thread-safety: the owner map is concurrent; everything else is immutable.
 */
public final class ApiAccess {
    private final AccessConfig config;
    private final Path state;
    /** Session and writer ids → the user who opened them; a stale entry is harmless (ids are never reused). */
    private final Map<String, String> owners = new ConcurrentHashMap<>();

    public ApiAccess(AccessConfig config, Path state) {
        this.config = config;
        this.state = state;
    }

    public AccessConfig config() {
        return config;
    }

    /** Refuses operators: {@code what} is the administrator's. */
    public void admin(Caller c, String what) throws ServiceException {
        if (!c.isAdmin()) {
            throw new ServiceException(VssError.ACCESS_DENIED, what + " is for the administrator (root); " + c
                    + " may work on the volumes, repositories and mount roots in STATE/" + AccessConfig.FILE);
        }
    }

    /** Refuses an operator a volume the administrator did not give operators. */
    public void volume(Caller c, String volume) throws ServiceException {
        if (!sees(c, volume)) {
            throw new ServiceException(VssError.ACCESS_DENIED, "volume " + volume + " is not one operators may use "
                    + "(STATE/" + AccessConfig.FILE + " gives them " + (config.volumes().isEmpty() ? "none"
                    : String.join(", ", config.volumes().stream().sorted().toList())) + ")");
        }
    }

    /** Whether {@code c} may see and use {@code volume}. */
    public boolean sees(Caller c, String volume) {
        return c.isAdmin() || config.volumes().contains(volume);
    }

    /** A repository path: canonical, and for operators inside a configured repository root. */
    public Path repository(Caller c, String raw) throws ServiceException {
        return c.isAdmin() ? Confinement.canonical(raw, "repository")
                : Confinement.confine(raw, config.repositories(), "repository");
    }

    /**
     * A repository location for a job: a directory as {@link #repository}, or {@code s3://BUCKET/PREFIX}, which reaches
     * whatever the daemon's own AWS credentials reach and is therefore for administrators only.
     */
    public String repositoryLocation(Caller c, String raw) throws ServiceException {
        if (raw != null && raw.startsWith("s3://")) {
            admin(c, "backing up to or restoring from object storage (the daemon's AWS credentials)");
            try {
                return RepositoryLocation.parse(raw).toString();
            } catch (IllegalArgumentException e) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, e.getMessage());
            }
        }
        return repository(c, raw).toString();
    }

    /** A mount point for expose: canonical, and for operators inside a configured mount root. */
    public Path mountPoint(Caller c, String raw) throws ServiceException {
        return c.isAdmin() ? Confinement.canonical(raw, "mount point")
                : Confinement.confine(raw, config.mountRoots(), "mount point");
    }

    /** A volume's backing file or device: administrators only, canonical, never the service's own files. */
    public Path backing(Caller c, String raw) throws ServiceException {
        admin(c, "choosing a volume's backing file");
        Path p = Confinement.canonical(raw, "backing");
        if (p.startsWith(state)) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "backing " + p + " is inside the service's state "
                    + "directory " + state + "; give a file or device elsewhere");
        }
        return p;
    }

    /** A path an administrator gives for something else (a btrfs subvolume): canonical. */
    public Path adminPath(Caller c, String raw, String what) throws ServiceException {
        admin(c, what);
        return Confinement.canonical(raw, what);
    }

    /** Records that {@code c} opened the session or writer {@code id}. */
    public void opened(String id, Caller c) {
        owners.put(id, c.user());
    }

    /** Refuses an operator a session or writer someone else opened. */
    public void owner(Caller c, String id, String what) throws ServiceException {
        if (!c.isAdmin() && !c.user().equals(owners.get(id))) {
            throw new ServiceException(VssError.ACCESS_DENIED, what + " " + id + " was opened by someone else; "
                    + c + " may act only on its own");
        }
    }

    public void forget(String id) {
        owners.remove(id);
    }
}
