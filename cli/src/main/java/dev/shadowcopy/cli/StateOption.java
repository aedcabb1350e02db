package dev.shadowcopy.cli;

import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.service.client.ApiClient;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --state DIR}, shared by every command. */
final class StateOption {
    @Option(names = "--state", paramLabel = "DIR", description = "State directory of the daemon (default: "
            + "$SHADOWCOPY_STATE, else /var/lib/shadowcopy for root, else ~/.local/share/shadowcopy).")
    Path state;

    Path dir() {
        return DaemonConfig.resolveState(state);
    }

    ApiClient connect() throws IOException {
        return ApiClient.connect(dir());
    }
}
