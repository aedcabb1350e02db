package dev.shadowcopy.attach.loop;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Loop devices over our FUSE files, through {@code losetup} (util-linux) and sysfs.
 *
 * <p>Queries read sysfs only ({@code /sys/block/loopN/loop/backing_file}): asking losetup to match a file
 * stats it, and a stat of a FUSE file whose server is away blocks until it comes back.
 *
 * <p>Direct I/O is on: the loop device then submits its requests to the FUSE file asynchronously and
 * unbuffered, so the kernel does not keep a second copy of the volume's data in the FUSE file's page cache
 * and several requests are in flight at once (measured in docs/benchmarks.md).
 */
public final class LoopDevices {
    private static final Path SYS_BLOCK = Path.of("/sys/block");

    private LoopDevices() {}

    /** Attaches a free loop device to {@code file}; returns its path (/dev/loopN). */
    public static String attach(Path file, boolean readOnly) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("losetup", "--find", "--show", "--direct-io=on"));
        if (readOnly) {
            cmd.add("--read-only");
        }
        cmd.add(file.toString());
        String out = run(cmd).strip();
        String loop = out.lines().filter(l -> l.startsWith("/dev/loop")).reduce((a, b) -> b).orElse("");
        if (loop.isEmpty()) {
            throw new IOException("losetup printed no device for " + file + ": " + out);
        }
        return loop;
    }

    /**
     * Detaches {@code loop}. A device still open elsewhere is only marked to detach when its last user closes
     * it (autoclear): callers check {@link DeviceUsers} first.
     */
    public static void detach(String loop) throws IOException {
        run(List.of("losetup", "-d", loop));
    }

    /** Waits until {@code loop} no longer has a backing file; false if it still has one after {@code timeout}. */
    public static boolean awaitDetached(String loop, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long pause = 1;
        while (backingFile(loop) != null) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(pause); // polling sysfs: the kernel offers no event for this
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while detaching " + loop);
            }
            pause = Math.min(50, pause * 2);
        }
        return true;
    }

    /** The file {@code loop} is attached to, as the kernel recorded its path; null if it is not attached. */
    public static String backingFile(String loop) throws IOException {
        Path f = SYS_BLOCK.resolve(Path.of(loop).getFileName().toString()).resolve("loop").resolve("backing_file");
        try {
            List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            return lines.isEmpty() ? null : lines.getFirst().strip();
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        }
    }

    /** Whether the kernel does direct I/O on the backing file of {@code loop}. */
    public static boolean directIo(String loop) {
        Path f = SYS_BLOCK.resolve(Path.of(loop).getFileName().toString()).resolve("loop").resolve("dio");
        try {
            return Files.readAllLines(f).getFirst().strip().equals("1");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Every loop device attached to {@code file} (by the path the kernel recorded). */
    public static List<String> attachedTo(Path file) throws IOException {
        List<String> out = new ArrayList<>();
        String want = file.toAbsolutePath().normalize().toString();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(SYS_BLOCK, "loop*")) {
            for (Path p : ds) {
                String loop = "/dev/" + p.getFileName();
                if (want.equals(backingFile(loop))) {
                    out.add(loop);
                }
            }
        }
        return out;
    }

    /** Every loop device whose backing file lies under {@code dir}: loop path → backing file. */
    public static java.util.Map<String, String> attachedUnder(Path dir) throws IOException {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        String prefix = dir.toAbsolutePath().normalize() + "/";
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(SYS_BLOCK, "loop*")) {
            for (Path p : ds) {
                String loop = "/dev/" + p.getFileName();
                String b = backingFile(loop);
                if (b != null && b.startsWith(prefix)) {
                    out.put(loop, b);
                }
            }
        }
        return out;
    }

    static String run(List<String> cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish within 60 s");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): " + out.strip());
            }
            return out;
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd));
        }
    }
}
