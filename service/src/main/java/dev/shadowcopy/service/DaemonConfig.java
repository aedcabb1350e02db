package dev.shadowcopy.service;

import dev.shadowcopy.service.sequence.Timeouts;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * How the daemon runs.
 *
 * @param state    the state directory (volumes, catalog, sockets)
 * @param group    group allowed to use the API socket besides the owner; null = owner only
 * @param hooks    directory of hook writers; null = {@code STATE/hooks}
 * @param timeouts the sequence's limits
 * @param nbdTcp   also serve NBD on this TCP address; null = Unix socket only. Needs TLS credentials in
 *                 {@code doors}, or {@code doors.nbdTcpInsecure()}
 * @param doors    limits, timeouts and credentials of the API and NBD
 */
public record DaemonConfig(Path state, String group, Path hooks, Timeouts timeouts, InetSocketAddress nbdTcp,
                           Doors doors) {
    public DaemonConfig {
        java.util.Objects.requireNonNull(doors, "doors");
        if (nbdTcp != null && doors.nbdTlsCreds() == null && !doors.nbdTcpInsecure()) {
            throw new IllegalArgumentException("--nbd-tcp " + nbdTcp.getHostString() + ":" + nbdTcp.getPort()
                    + " would let anyone who reaches that port read and write every volume: give --nbd-tls-creds DIR "
                    + "(ca-cert.pem, server-cert.pem, server-key.pem; clients need a certificate signed by that CA), "
                    + "or --nbd-tcp-insecure to accept that");
        }
        if (nbdTcp == null && (doors.nbdTlsCreds() != null || doors.nbdTcpInsecure())) {
            throw new IllegalArgumentException("--nbd-tls-creds and --nbd-tcp-insecure apply to --nbd-tcp, which is "
                    + "not given");
        }
    }

    /** With the default doors. */
    public DaemonConfig(Path state, String group, Path hooks, Timeouts timeouts, InetSocketAddress nbdTcp) {
        this(state, group, hooks, timeouts, nbdTcp, Doors.DEFAULT);
    }

    public Path hooksDir() {
        return hooks != null ? hooks : state.resolve("hooks");
    }

    public Path apiSocket() {
        return state.resolve("shadowcopy.sock");
    }

    public Path nbdSocket() {
        return state.resolve("nbd.sock");
    }

    /** {@code /var/lib/shadowcopy} for root, else {@link #userDataDir()}. */
    public static Path defaultState() {
        return "root".equals(System.getProperty("user.name")) ? Path.of("/var/lib/shadowcopy") : userDataDir();
    }

    /** {@code $XDG_DATA_HOME/shadowcopy}, by default {@code ~/.local/share/shadowcopy}. */
    public static Path userDataDir() {
        String xdg = System.getenv("XDG_DATA_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg)
                : Path.of(System.getProperty("user.home"), ".local", "share");
        return base.resolve("shadowcopy");
    }

    /** The state directory to use: {@code --state}, else {@code $SHADOWCOPY_STATE}, else the default. */
    public static Path resolveState(Path option) {
        if (option != null) {
            return option.toAbsolutePath();
        }
        String env = System.getenv("SHADOWCOPY_STATE");
        return env != null && !env.isBlank() ? Path.of(env).toAbsolutePath() : defaultState();
    }
}
