package dev.shadowcopy.platform;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * External programs the service runs (mount, blkid, fsck, a database check, cp): bounded in time and in the output
 * kept. The output goes to a private temporary file rather than a pipe, so that the time limit holds even when the
 * program never closes its output (reading a pipe to its end first, as a plain ProcessBuilder caller does, waits for
 * the program however long it runs), and at most {@link #KEPT} bytes of it are read back (an fsck of a crafted image
 * may print without end).
 */
public final class Programs {
    /** At most this much of a program's output is kept: its end, where the verdict is. */
    public static final int KEPT = 1 << 20;

    private Programs() {}

    /**
     * @param exit     the exit status (meaningless when {@code timedOut})
     * @param timedOut the program was killed at the limit
     * @param output   stdout and stderr together, its last {@link #KEPT} bytes
     */
    public record Result(int exit, boolean timedOut, String output) {
        public boolean ok() {
            return !timedOut && exit == 0;
        }
    }

    /** Runs {@code cmd} to its end, or kills it at {@code limit}. */
    public static Result run(Duration limit, List<String> cmd) throws IOException {
        Path out = Files.createTempFile("shadowcopy-program-", ".out"); // 0600
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            try {
                if (!p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                    return new Result(-1, true, tail(out));
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), false, tail(out));
        } finally {
            Files.deleteIfExists(out);
        }
    }

    public static Result run(Duration limit, String... cmd) throws IOException {
        return run(limit, List.of(cmd));
    }

    /** Runs {@code cmd} and returns its output; not exiting 0 within {@code limit} is an IOException saying so. */
    public static String check(Duration limit, List<String> cmd) throws IOException {
        Result r = run(limit, cmd);
        if (r.timedOut()) {
            throw new IOException(String.join(" ", cmd) + " did not finish within " + limit.toSeconds() + " s");
        }
        if (r.exit() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed (exit " + r.exit() + "): " + r.output().strip());
        }
        return r.output();
    }

    public static String check(Duration limit, String... cmd) throws IOException {
        return check(limit, List.of(cmd));
    }

    /**
     * The file's text, or its last {@link #KEPT} bytes when it is longer. Also for a log another user's process wrote
     * (a database server's): a link is not followed and anything but a regular file is not read.
     */
    public static String tail(Path file) throws IOException {
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return "(" + file.getFileName() + " is not a regular file)";
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            long size = ch.size();
            ByteBuffer b = ByteBuffer.allocate((int) Math.min(size, KEPT));
            long at = size - b.capacity();
            while (b.hasRemaining() && ch.read(b, at + b.position()) > 0) {
                // read the tail whole
            }
            String text = new String(b.array(), 0, b.position(), StandardCharsets.UTF_8);
            return at > 0 ? "[" + at + " bytes of output left out]\n" + text : text;
        }
    }
}
