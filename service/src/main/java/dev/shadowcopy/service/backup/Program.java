package dev.shadowcopy.service.backup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

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
        Path out = Files.createTempFile("shadowcopy-verify-", ".out");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            try {
                if (!p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                    return new Program(-1, Files.readString(out, StandardCharsets.UTF_8) + "\n" + String.join(" ", cmd)
                            + " did not finish within " + limit.toSeconds() + " s");
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted: " + String.join(" ", cmd));
            }
            return new Program(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
        }
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
