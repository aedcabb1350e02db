package dev.shadowcopy.cli;

import dev.shadowcopy.service.Daemon;
import dev.shadowcopy.service.DaemonConfig;
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

    @Option(names = "--group", paramLabel = "GROUP", description = "Group that may use the API socket besides the owner.")
    String group;

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

    @Option(names = "--nbd-tcp", paramLabel = "HOST:PORT", description = "Also serve NBD on this TCP address.")
    String nbdTcp;

    @Override
    public Integer call() throws Exception {
        InetSocketAddress tcp = null;
        if (nbdTcp != null) {
            int c = nbdTcp.lastIndexOf(':');
            if (c < 0) {
                throw new IllegalArgumentException("--nbd-tcp must be HOST:PORT, was " + nbdTcp);
            }
            tcp = new InetSocketAddress(nbdTcp.substring(0, c), Integer.parseInt(nbdTcp.substring(c + 1)));
        }
        Timeouts t = new Timeouts(seconds(freezeTimeout, "--freeze-timeout"), seconds(commitTimeout, "--commit-timeout"),
                seconds(eventTimeout, "--event-timeout"), Timeouts.DEFAULT.abort(),
                seconds(flushTimeout, "--flush-timeout"));
        DaemonConfig config = new DaemonConfig(state.dir(), group, hooks == null ? null : hooks.toAbsolutePath(), t, tcp);
        Daemon d = Daemon.start(config);
        d.runUntilStopped();
        return 0;
    }

    private static Duration seconds(double s, String option) {
        if (!(s > 0) || s > 86400) {
            throw new IllegalArgumentException(option + " must be between 0 and 86400 seconds, was " + s);
        }
        return Duration.ofMillis((long) (s * 1000));
    }
}
