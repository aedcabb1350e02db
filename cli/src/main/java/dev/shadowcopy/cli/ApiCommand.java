package dev.shadowcopy.cli;

import dev.shadowcopy.service.client.ApiClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;

/** A command that talks to the daemon: {@code --state}, one connection for the command, its exit code. */
abstract class ApiCommand implements Callable<Integer> {
    @Mixin
    StateOption state;

    @Override
    public final Integer call() throws Exception {
        try (ApiClient c = state.connect()) {
            return run(c);
        }
    }

    /** Does the command's work on {@code api}; returns the exit code. */
    abstract int run(ApiClient api) throws Exception;
}
