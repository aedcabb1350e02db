package dev.shadowcopy.service.backup;

import dev.shadowcopy.platform.Programs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** An external program a verification runs (fsck, a database server or its check): exit status and output. */
record Program(int exit, String output) {
    boolean ok() {
        return exit == 0;
    }

    /** The last lines of the output, for a message (at most {@code lines}, each line as it was). */
    String tail(int lines) {
        List<String> all = output.strip().lines().toList();
        return String.join(" | ", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    /** Runs {@code cmd} to its end, or kills it at {@code limit} (exit -1). Output is stdout and stderr together. */
    static Program run(Duration limit, List<String> cmd) throws IOException {
        Programs.Result r = Programs.run(limit, cmd);
        return r.timedOut() ? new Program(-1, r.output() + "\n" + String.join(" ", cmd) + " did not finish within "
                + limit.toSeconds() + " s") : new Program(r.exit(), r.output());
    }

    static Program run(Duration limit, String... cmd) throws IOException {
        return run(limit, List.of(cmd));
    }

    /** Whether {@code program} is an executable on the PATH (or an absolute path to one). */
    static boolean exists(String program) {
        if (program.startsWith("/")) {
            return Files.isExecutable(Path.of(program));
        }
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
