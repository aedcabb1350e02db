package dev.shadowcopy.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A real {@code shadowcopy daemon} in its own JVM on a test state directory, and the CLI run as separate
 * processes against it: what an admin does, nothing in-process.
 */
final class DaemonProcess implements AutoCloseable {
    static final String JAVA = ProcessHandle.current().info().command().orElse("java");
    static final String CP = System.getProperty("java.class.path");

    final Path state;
    private final List<String> args;
    private String classpath = CP;
    private Process process;
    /** Extra environment of the daemon and the CLI processes (e.g. the AWS_* lines of bin/dev-s3). */
    final java.util.Map<String, String> env = new java.util.LinkedHashMap<>();

    DaemonProcess(Path state, String... extra) {
        this.state = state;
        this.args = List.of(extra);
    }

    DaemonProcess start() throws Exception {
        Files.deleteIfExists(state.resolve("shadowcopy.sock"));
        List<String> cmd = new ArrayList<>(List.of(JAVA, "-cp", classpath, "dev.shadowcopy.cli.Main", "daemon", "--state",
                state.toString()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        process = pb.redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(state.resolveSibling(state.getFileName() + "-daemon.log")
                        .toFile())).start();
        await(Duration.ofSeconds(30), () -> Files.exists(state.resolve("shadowcopy.sock")) || !process.isAlive(),
                "daemon socket");
        assertTrue(process.isAlive(), "daemon died at start: " + log());
        return this;
    }

    /** Runs the daemon from another class path (an installed upgrade) instead of the test's own. */
    DaemonProcess classpath(String cp) {
        this.classpath = cp;
        return this;
    }

    String log() throws IOException {
        Path l = state.resolveSibling(state.getFileName() + "-daemon.log");
        return Files.exists(l) ? Files.readString(l) : "";
    }

    long pid() {
        return process.pid();
    }

    void kill9() throws Exception {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    void stop() throws Exception {
        process.destroy(); // SIGTERM: orderly stop
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }

    /** The result of a CLI run. */
    record Result(int exit, String out, String err) {
        Result ok() {
            assertTrue(exit == 0, "exit " + exit + "\nstdout: " + out + "\nstderr: " + err);
            return this;
        }
    }

    /** Runs {@code shadowcopy ARGS --state STATE} as a process. */
    Result cli(String... cliArgs) throws Exception {
        Process p = cliProcess(cliArgs);
        return finish(p, Duration.ofSeconds(120));
    }

    Process cliProcess(String... cliArgs) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(JAVA, "-cp", CP, "dev.shadowcopy.cli.Main"));
        cmd.addAll(List.of(cliArgs));
        cmd.add("--state");
        cmd.add(state.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        return pb.start();
    }

    static Result finish(Process p, Duration limit) throws Exception {
        var out = p.getInputStream();
        var err = p.getErrorStream();
        byte[][] bufs = new byte[2][];
        Thread to = Thread.ofVirtual().start(() -> bufs[0] = readAll(out));
        Thread te = Thread.ofVirtual().start(() -> bufs[1] = readAll(err));
        if (!p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("command did not finish within " + limit);
        }
        to.join();
        te.join();
        return new Result(p.exitValue(), new String(bufs[0], StandardCharsets.UTF_8),
                new String(bufs[1], StandardCharsets.UTF_8));
    }

    private static byte[] readAll(java.io.InputStream in) {
        try {
            return in.readAllBytes();
        } catch (IOException e) {
            return new byte[0];
        }
    }

    /** Runs a shell command (bounded), returning its result. */
    static Result sh(String command) throws Exception {
        return finish(new ProcessBuilder("bash", "-c", command).start(), Duration.ofSeconds(120));
    }

    /** Waits for a condition, at most {@code limit}: never a fixed sleep. */
    static void await(Duration limit, BooleanSupplier condition, String what) throws InterruptedException {
        Instant end = Instant.now().plus(limit);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(end)) {
                throw new AssertionError("timed out after " + limit + " waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    /**
     * Stops the daemon, then lets go of whatever it left attached: attached volumes and exposures outlive the
     * daemon by design, so a test must take them down itself. Aborts the FUSE connections (nothing can hang),
     * lazily unmounts file systems on their loop devices, detaches those, unmounts the FUSE directories and
     * ends the descriptor holder of this state directory.
     */
    @Override
    public void close() throws Exception {
        if (process != null && process.isAlive()) {
            stop();
        }
        releaseAttachments(state);
    }

    static void releaseAttachments(Path state) throws Exception {
        Path attach = state.resolve("attach").toAbsolutePath();
        if (Files.isDirectory(attach)) {
            try (var dirs = Files.list(attach)) {
                for (Path d : dirs.toList()) {
                    dev.shadowcopy.attach.fuse.FuseMount.abort(d);
                }
            }
            for (String loop : dev.shadowcopy.attach.loop.LoopDevices.attachedUnder(attach).keySet()) {
                for (String m : dev.shadowcopy.attach.loop.DeviceUsers.mountPoints(loop)) {
                    sh("umount -l '" + m + "'");
                }
                sh("losetup -d " + loop);
            }
            try (var dirs = Files.list(attach)) {
                for (Path d : dirs.toList()) {
                    if (dev.shadowcopy.attach.fuse.FuseMount.isMounted(d)) {
                        sh("umount -l '" + d + "'");
                    }
                }
            }
        }
        String socket = state.resolve("holder.sock").toAbsolutePath().toString();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8);
                    if (cmd.contains("HolderProcess") && cmd.contains(socket)) {
                        ProcessHandle.of(Long.parseLong(p.getFileName().toString())).ifPresent(ProcessHandle::destroyForcibly);
                    }
                } catch (IOException | NumberFormatException e) {
                    // not a process, or gone
                }
            }
        }
    }
}
