package dev.shadowcopy.cli;

import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.service.client.ApiClient;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/** {@code --state DIR} and {@code --timeout SECONDS}, shared by every command that talks to the daemon. */
final class StateOption {
    @Option(names = "--state", paramLabel = "DIR", description = "State directory of the daemon (default: "
            + "$SHADOWCOPY_STATE, else /var/lib/shadowcopy for root, else ~/.local/share/shadowcopy).")
    Path state;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "Give up on the daemon after SECONDS without "
            + "an answer (default: $SHADOWCOPY_TIMEOUT, else 60 for queries and 900 for operations).")
    Double timeout;

    Path dir() {
        return DaemonConfig.resolveState(state);
    }

    ApiClient connect() throws IOException {
        return ApiClient.connect(dir(), timeouts());
    }

    private ApiClient.Timeouts timeouts() {
        Double s = timeout;
        String env = System.getenv("SHADOWCOPY_TIMEOUT");
        if (s == null && env != null && !env.isBlank()) {
            try {
                s = Double.parseDouble(env.strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("SHADOWCOPY_TIMEOUT must be a number of seconds, was '" + env + "'");
            }
        }
        if (s == null) {
            return ApiClient.Timeouts.DEFAULT;
        }
        if (!(s > 0) || s > 7 * 86400) {
            throw new IllegalArgumentException("--timeout must be between 0 and 604800 seconds, was " + s);
        }
        return ApiClient.Timeouts.of(Duration.ofMillis((long) (s * 1000)));
    }
}
