package dev.shadowcopy.service.ops;

import dev.shadowcopy.platform.Programs;
import java.io.IOException;
import java.time.Duration;

/** External programs the operations run (mount, blockdev): their output is the error message when they fail. */
final class Commands {
    private Commands() {}

    /** Runs {@code cmd}; a non-zero exit or a run over a minute is an IOException with the program's output. */
    static void run(String... cmd) throws IOException {
        Programs.check(Duration.ofSeconds(60), cmd);
    }
}
