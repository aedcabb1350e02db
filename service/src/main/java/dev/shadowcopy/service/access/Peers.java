package dev.shadowcopy.service.access;

import dev.shadowcopy.service.peer.Role;
import dev.shadowcopy.service.peer.Caller;
import dev.shadowcopy.service.http.Gate;
import dev.shadowcopy.service.http.HttpException;
import java.io.IOException;
import jdk.net.UnixDomainPrincipal;
import java.nio.file.FileSystems;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.Set;

/**
 * Gives each peer of a Unix socket its {@link Role} from the credentials the kernel reported for it
 * ({@code SO_PEERCRED}: the peer process's user and group at connect time).
 *
 * <ul>
 *   <li>root and the daemon's own user are {@link Role#ADMIN};</li>
 *   <li>with {@code --group G}, a peer whose group is G or who is listed as a member of G is
 *       {@link Role#OPERATOR};</li>
 *   <li>anyone else is refused, even if the socket's file mode was opened up by hand.</li>
 * </ul>
 *
 * <p>The socket files' modes (0660, group G) already keep others out; this check is the second lock on the door.
 */
public final class Peers implements Gate {
    private final UserPrincipal root;
    private final UserPrincipal self;
    private final GroupPrincipal group;
    private final String groupName;

    private Peers(UserPrincipal root, UserPrincipal self, GroupPrincipal group, String groupName) {
        this.root = root;
        this.self = self;
        this.group = group;
        this.groupName = groupName;
    }

    /** @param groupName the operators' group ({@code --group}), or null for administrators only */
    public static Peers of(String groupName) throws IOException {
        UserPrincipalLookupService lookup = FileSystems.getDefault().getUserPrincipalLookupService();
        GroupPrincipal g = null;
        if (groupName != null) {
            try {
                g = lookup.lookupPrincipalByGroupName(groupName);
            } catch (IOException e) {
                throw new IOException("--group " + groupName + ": no such group (create it with groupadd, or check "
                        + "the name)", e);
            }
        }
        return new Peers(lookup.lookupPrincipalByName("root"),
                lookup.lookupPrincipalByName(System.getProperty("user.name")), g, groupName);
    }

    /** The operators' group, or null. */
    public GroupPrincipal group() {
        return group;
    }

    /** The users whose files the service trusts for its configuration: root and itself. */
    public Set<UserPrincipal> trusted() {
        return root.equals(self) ? Set.of(root) : Set.of(root, self);
    }

    /** The caller {@code peer} is, or an exception saying why it may not use the service. */
    public Caller identify(UnixDomainPrincipal peer) throws AccessDenied {
        String user = peer.user().getName();
        if (peer.user().equals(root) || peer.user().equals(self)) {
            return new Caller(user, Role.ADMIN);
        }
        if (group == null) {
            throw new AccessDenied("user " + user + " may not use this service: it serves root and "
                    + self.getName() + " only (start the daemon with --group GROUP to let GROUP's members operate)");
        }
        if (peer.group().equals(group) || Posix.groupMembers(groupName).contains(user)) {
            return new Caller(user, Role.OPERATOR);
        }
        throw new AccessDenied("user " + user + " is not in group " + groupName + ", whose members may operate this "
                + "service; ask the administrator (usermod -aG " + groupName + " " + user + ")");
    }

    @Override
    public Caller admit(UnixDomainPrincipal peer) throws HttpException {
        try {
            return identify(peer);
        } catch (AccessDenied e) {
            throw new HttpException(403, e.getMessage());
        }
    }

    /** A peer that may not use the service; the message says who and what to do. */
    public static final class AccessDenied extends IOException {
        AccessDenied(String message) {
            super(message);
        }
    }
}
