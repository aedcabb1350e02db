package dev.shadowcopy.service.peer;

/** What a peer of the service's sockets may do; docs/service.md "Security model" has the whole table. */
public enum Role {
    /** root, or the user the daemon runs as: everything, any path. */
    ADMIN,
    /**
     * A member of the daemon's {@code --group}: works only on the volumes, repositories and mount roots the
     * administrator named in {@code STATE/config.json}, never on other paths; cannot create, delete, attach or
     * revert volumes or change shadow storage.
     */
    OPERATOR
}
