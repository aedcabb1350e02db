package dev.shadowcopy.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs host programs (losetup, mkfs, mount, qemu-img …) for tests that use real components. */
public final class Host {
    private Host() {}

    /** Fails the test with a clear message unless we run as root (loop devices, mount, FIFREEZE need it). */
    public static void requireRoot() {
        if (!"root".equals(System.getProperty("user.name"))) {
            throw new AssertionError("this test needs root (loop devices, mount); CI runs as root");
        }
    }

    /** Fails the test unless {@code program} is on the PATH (CI installs it in .ci/run). */
    public static void requireProgram(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (java.nio.file.Files.isExecutable(java.nio.file.Path.of(dir, program))) {
                return;
            }
        }
        throw new AssertionError(program + " is not installed (.ci/run installs it with apt-get)");
    }

    /** Runs a command, returns its stdout; throws with its output if it fails or takes over 5 minutes. */
    public static String run(String... command) throws IOException {
        return run(List.of(command));
    }

    public static String run(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + ": timed out");
            }
            String text = new String(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + " exited with " + p.exitValue() + ": " + text);
            }
            return text;
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", command), e);
        }
    }
}
