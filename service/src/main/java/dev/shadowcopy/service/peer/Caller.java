package dev.shadowcopy.service.peer;

import java.util.Objects;

/**
 * Who is on the other end of a Unix socket connection, as the kernel reported it ({@code SO_PEERCRED}) when the
 * connection was accepted, and the role the service gave them.
 *
 * @param user the peer's user name (or its numeric id when it has no name)
 */
public record Caller(String user, Role role) {
    public Caller {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(role, "role");
    }

    public boolean isAdmin() {
        return role == Role.ADMIN;
    }

    @Override
    public String toString() {
        return user + " (" + role.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }
}
