package dev.shadowcopy.nbd.server;

import dev.shadowcopy.nbd.export.ExportRegistry;
import java.io.IOException;
import jdk.net.UnixDomainPrincipal;

/**
 * Who may use the Unix socket, decided per connection from the peer credentials the kernel reports
 * ({@code SO_PEERCRED}). The TCP listener does not ask: it is guarded by TLS with client certificates.
 */
public interface PeerAccess {

    /**
     * What a peer may open.
     *
     * @param exports    the exports it sees (all, or a restricted view)
     * @param user       its user name, the key of the per-user connection limit
     * @param unlimited  true for administrators, who are held to the total limit only
     */
    record Grant(ExportRegistry exports, String user, boolean unlimited) {}

    /** The grant for {@code peer}, or {@link Denied} with the reason the client is told. */
    Grant admit(UnixDomainPrincipal peer, ExportRegistry all) throws Denied;

    /** Everyone who can open the socket file sees everything (what file permissions allow is the policy). */
    PeerAccess FILE_PERMISSIONS = (peer, all) -> new Grant(all, peer.user().getName(), false);

    /** A refused peer; the message is sent to the client as NBD_REP_ERR_POLICY. */
    final class Denied extends IOException {
        public Denied(String message) {
            super(message);
        }
    }
}
