package dev.shadowcopy.service.access;

import dev.shadowcopy.service.peer.Caller;
import dev.shadowcopy.nbd.export.ExportRegistry;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.nbd.server.PeerAccess;
import jdk.net.UnixDomainPrincipal;

/**
 * Who may use {@code nbd.sock}: administrators see every export; operators only the volumes
 * {@link AccessConfig} gives them (read-write) and their shadow copies (read-only); anyone else is refused with
 * the reason.
 */
public final class NbdDoor implements PeerAccess {
    private final Peers peers;
    private final AccessConfig config;
    private final VolumeExports exports;

    public NbdDoor(Peers peers, AccessConfig config, VolumeExports exports) {
        this.peers = peers;
        this.config = config;
        this.exports = exports;
    }

    @Override
    public Grant admit(UnixDomainPrincipal peer, ExportRegistry all) throws Denied {
        Caller c;
        try {
            c = peers.identify(peer);
        } catch (Peers.AccessDenied e) {
            throw new Denied(e.getMessage());
        }
        return c.isAdmin() ? new Grant(all, c.user(), true)
                : new Grant(exports.restrictedTo(config.volumes()::contains), c.user(), false);
    }
}
