package dev.shadowcopy.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs host programs (losetup, mkfs, mount, qemu-img …) for tests that use real components, and decides what
 * happens when the host lacks one.
 *
 * <p>A test class that needs root or a program is tagged {@code @Tag("host")} and calls {@link #requireRoot} /
 * {@link #requireProgram} first. On a host without it the test is <em>skipped</em> with the reason (a JUnit
 * assumption), so that {@code bin/test} runs anywhere. CI sets {@value #REQUIRED}{@code =true}
 * ({@code .ci/run}): then a missing prerequisite <em>fails</em> the test, so that CI can never pass by silently
 * skipping what it was meant to check.
 */
public final class Host {
    /** System property: "true" makes a missing host prerequisite fail the test instead of skipping it. */
    public static final String REQUIRED = "shadowcopy.host.required";

    private Host() {}

    /** Skips the test (fails it under {@value #REQUIRED}) unless we run as root (loop devices, mount, FIFREEZE). */
    public static void requireRoot() {
        if (!"root".equals(System.getProperty("user.name"))) {
            missing("this test needs root (loop devices, mount, FIFREEZE); CI runs as root");
        }
    }

    /** Skips the test (fails it under {@value #REQUIRED}) unless {@code program} is on the PATH. */
    public static void requireProgram(String program) {
        if (!onPath(program)) {
            missing(program + " is not installed (.ci/run installs it with apt-get)");
        }
    }

    /** Whether {@code program} is an executable on the PATH. */
    public static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && java.nio.file.Files.isExecutable(java.nio.file.Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    /** Whether a missing prerequisite fails instead of skipping (CI). */
    public static boolean required() {
        return Boolean.getBoolean(REQUIRED);
    }

    private static void missing(String why) {
        if (required()) {
            throw new AssertionError(why + "; -D" + REQUIRED + "=true says this host must have it");
        }
        Assumptions.abort(why + " (skipped; -D" + REQUIRED + "=true makes this a failure)");
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
