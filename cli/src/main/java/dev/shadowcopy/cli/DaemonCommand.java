package dev.shadowcopy.cli;

import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.service.Daemon;
import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.service.Doors;
import dev.shadowcopy.service.http.HttpLimits;
import dev.shadowcopy.service.sequence.Timeouts;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "daemon", mixinStandardHelpOptions = true,
        description = "Runs the shadow copy service in the foreground (API on STATE/shadowcopy.sock, NBD on "
                + "STATE/nbd.sock) until SIGTERM or SIGINT.")
final class DaemonCommand implements Callable<Integer> {
    @Mixin
    StateOption state;

    @Option(names = "--group", paramLabel = "GROUP", description = "Operators: members of GROUP may use the sockets, "
            + "on what STATE/config.json gives them (docs/service.md, Security model).")
    String group;

    @Option(names = "--host", paramLabel = "NAME", description = "This host's name in backup repositories shared by "
            + "many hosts: recorded in its backup points, and whose 'latest' a restore means (default: the machine's "
            + "host name).")
    String host;

    @Option(names = "--hooks", paramLabel = "DIR", description = "Directory of hook writers (default: STATE/hooks).")
    Path hooks;

    @Option(names = "--freeze-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "Writers' Freeze-to-Thaw window (default: ${DEFAULT-VALUE}).")
    double freezeTimeout;

    @Option(names = "--commit-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Longest time writes are held for a commit (default: ${DEFAULT-VALUE}).")
    double commitTimeout;

    @Option(names = "--flush-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Longest time flushing and freezing the set's file systems may take (default: "
                    + "${DEFAULT-VALUE}).")
    double flushTimeout;

    @Option(names = "--event-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "Deadline of other writer events (default: ${DEFAULT-VALUE}).")
    double eventTimeout;

    @Option(names = "--nbd-tcp", paramLabel = "HOST:PORT", description = "Also serve NBD on this TCP address "
            + "(needs --nbd-tls-creds, or --nbd-tcp-insecure).")
    String nbdTcp;

    @Option(names = "--nbd-tls-creds", paramLabel = "DIR", description = "TLS for --nbd-tcp: DIR holds ca-cert.pem, "
            + "server-cert.pem, server-key.pem (as qemu-nbd --tls-creds); clients need a certificate signed by the CA.")
    Path nbdTlsCreds;

    @Option(names = "--nbd-tcp-insecure", description = "Serve --nbd-tcp without TLS: anyone who reaches the port "
            + "reads and writes every volume.")
    boolean nbdTcpInsecure;

    @Option(names = "--api-max-connections", paramLabel = "N", defaultValue = "512",
            description = "API connections open at once, all users (default: ${DEFAULT-VALUE}; root may exceed by 32).")
    int apiMaxConnections;

    @Option(names = "--api-max-connections-per-user", paramLabel = "N", defaultValue = "64",
            description = "API connections one non-root user may hold (default: ${DEFAULT-VALUE}).")
    int apiMaxPerUser;

    @Option(names = "--api-idle-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "Close an API connection idle this long, unless it holds a session or writer "
                    + "(default: ${DEFAULT-VALUE}).")
    double apiIdleTimeout;

    @Option(names = "--api-request-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "A request must arrive whole within this from its first byte (default: ${DEFAULT-VALUE}).")
    double apiRequestTimeout;

    @Option(names = "--api-write-timeout", paramLabel = "SECONDS", defaultValue = "30",
            description = "A client must take each part of an answer within this (default: ${DEFAULT-VALUE}).")
    double apiWriteTimeout;

    @Option(names = "--nbd-max-connections", paramLabel = "N", defaultValue = "128",
            description = "NBD connections open at once, Unix and TCP (default: ${DEFAULT-VALUE}; root may exceed by 32).")
    int nbdMaxConnections;

    @Option(names = "--nbd-max-connections-per-user", paramLabel = "N", defaultValue = "32",
            description = "NBD connections one non-root user may hold (default: ${DEFAULT-VALUE}).")
    int nbdMaxPerUser;

    @Option(names = "--nbd-handshake-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Time an NBD client has to negotiate, TLS included (default: ${DEFAULT-VALUE}).")
    double nbdHandshakeTimeout;

    @Option(names = "--versions-idle", paramLabel = "SECONDS", defaultValue = "60",
            description = "Unmount a shadow copy mounted for 'versions' after this long unused (default: "
                    + "${DEFAULT-VALUE}).")
    int versionsIdle;

    @Override
    public Integer call() throws Exception {
        if (versionsIdle < 1 || versionsIdle > 86400) {
            throw new IllegalArgumentException("--versions-idle must be 1 to 86400 seconds, was " + versionsIdle);
        }
        System.setProperty(dev.shadowcopy.service.ops.PreviousVersions.IDLE_PROPERTY, Integer.toString(versionsIdle));
        if (host != null) {
            if (host.isBlank() || host.length() > 253 || !host.matches("[A-Za-z0-9._-]+")) {
                throw new IllegalArgumentException("--host must be 1 to 253 letters, digits, dots, hyphens or "
                        + "underscores, was '" + host + "'");
            }
            Leases.HostName.set(host);
        }
        InetSocketAddress tcp = nbdTcp == null ? null : hostPort(nbdTcp);
        Timeouts t = new Timeouts(seconds(freezeTimeout, "--freeze-timeout"), seconds(commitTimeout, "--commit-timeout"),
                seconds(eventTimeout, "--event-timeout"), Timeouts.DEFAULT.abort(),
                seconds(flushTimeout, "--flush-timeout"));
        HttpLimits api = new HttpLimits(apiMaxConnections, apiMaxPerUser, seconds(apiIdleTimeout, "--api-idle-timeout"),
                seconds(apiRequestTimeout, "--api-request-timeout"), seconds(apiWriteTimeout, "--api-write-timeout"));
        Doors doors = new Doors(api, nbdMaxConnections, nbdMaxPerUser, seconds(nbdHandshakeTimeout,
                "--nbd-handshake-timeout"), nbdTlsCreds == null ? null : nbdTlsCreds.toAbsolutePath(), nbdTcpInsecure);
        DaemonConfig config = new DaemonConfig(state.dir(), group, hooks == null ? null : hooks.toAbsolutePath(), t, tcp,
                doors);
        Daemon d = Daemon.start(config);
        d.runUntilStopped();
        return 0;
    }

    private static InetSocketAddress hostPort(String text) {
        int c = text.lastIndexOf(':');
        try {
            int port = Integer.parseInt(text.substring(c + 1));
            if (c <= 0 || port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return new InetSocketAddress(text.substring(0, c), port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--nbd-tcp must be HOST:PORT with a port from 0 to 65535, was " + text);
        }
    }

    private static Duration seconds(double s, String option) {
        if (!(s > 0) || s > 86400) {
            throw new IllegalArgumentException(option + " must be between 0 and 86400 seconds, was " + s);
        }
        return Duration.ofMillis((long) (s * 1000));
    }
}
