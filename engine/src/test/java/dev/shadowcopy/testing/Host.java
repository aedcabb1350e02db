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

    /**
     * Runs mkfs.btrfs with these arguments, immune to dead mounts elsewhere on the machine. mkfs.btrfs looks at the
     * backing file of every mounted loop device to see whether its target is in use, and one loop device over a FUSE
     * file whose server died (anyone's killed test run) makes every mkfs.btrfs on the host fail with "cannot check
     * mount status: Transport endpoint is not connected". So it runs in a private mount namespace where the mounts
     * that cannot be looked at are lazily dropped first; the host's own mounts are not touched.
     */
    public static String mkfsBtrfs(String... args) throws IOException {
        requireProgram("mkfs.btrfs");
        requireProgram("unshare");
        List<String> command = new java.util.ArrayList<>(List.of("unshare", "--mount", "--propagation", "private",
                "sh", "-c", DROP_DEAD_MOUNTS + "exec mkfs.btrfs \"$@\"", "mkfs.btrfs"));
        command.addAll(List.of(args));
        return run(command);
    }

    /** Shell: lazily unmounts (in this namespace) every mount whose mount point or loop backing file fails stat. */
    private static final String DROP_DEAD_MOUNTS = """
            while read -r src mp rest; do
              mp=$(printf '%b' "$mp")
              dead=
              stat "$mp" >/dev/null 2>&1 || dead=1
              case "$src" in /dev/loop*)
                b=$(cat "/sys/block/${src#/dev/}/loop/backing_file" 2>/dev/null) || b=
                case "$b" in ''|*' (deleted)') ;; *) stat "$b" >/dev/null 2>&1 || dead=1 ;; esac ;;
              esac
              [ -z "$dead" ] || umount -l "$mp" 2>/dev/null || true
            done < /proc/self/mounts
            """;
}
