package dev.shadowcopy.writer.database;

import dev.shadowcopy.writer.WriterException;
import dev.shadowcopy.writer.WriterFailure;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One database session held by the database's own command-line client ({@code psql}, {@code mariadb}) as a
 * child process: statements go to its stdin, results come back line by line, and a marker statement after each
 * request says where the answer ends. Using the clients means Unix sockets and the distributions' default
 * authentication (peer, unix_socket) work with no driver and no password. The session is the connection: a lock
 * or a backup held on it lasts until {@link #close}, and if the server goes away the client exits, which the
 * next {@link #query} reports as a lost connection (what a writer needs between Freeze and Thaw).
 */
final class SqlShell implements AutoCloseable {
    private static final String EOF = "\u0000eof";

    private final String what;
    private final Process process;
    private final OutputStream in;
    private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final String markerFormat;
    private final List<String> recent = new ArrayList<>();
    private int next;

    /**
     * @param markerFormat a statement printing its argument alone on a line, e.g. {@code \echo %s} or
     *                     {@code SELECT '%s';}
     */
    SqlShell(String what, List<String> command, Map<String, String> env, String markerFormat) throws WriterException {
        this.what = what;
        this.markerFormat = markerFormat;
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().putAll(env);
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new WriterException(WriterFailure.NONRETRYABLE, "cannot start " + command.getFirst() + " for " + what
                    + ": " + e.getMessage());
        }
        in = process.getOutputStream();
        Thread.ofVirtual().name("sql-" + what).start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    lines.add(l);
                }
            } catch (IOException e) {
                // the client is gone
            }
            lines.add(EOF);
        });
    }

    /** Runs statements and returns their output lines; fails if the client exits (connection lost). */
    List<String> query(String sql, Duration timeout) throws WriterException, InterruptedException {
        String marker = "__shadowcopy_" + (next++) + "__";
        try {
            in.write((sql + "\n" + String.format(markerFormat, marker) + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
        } catch (IOException e) {
            throw lost("", e.getMessage());
        }
        List<String> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String l = lines.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (l == null) {
                throw new WriterException(WriterFailure.TIMEOUT, what + ": no answer to '" + abbreviate(sql) + "' within "
                        + timeout.toMillis() + " ms");
            }
            if (l.equals(EOF)) {
                lines.add(EOF);
                throw lost(sql, String.join(" / ", out));
            }
            if (l.strip().equals(marker)) {
                return out;
            }
            out.add(l);
            remember(l);
        }
    }

    /** The single value a query returned (its last line), failing if there was none. */
    String value(String sql, Duration timeout) throws WriterException, InterruptedException {
        List<String> out = query(sql, timeout);
        if (out.isEmpty()) {
            throw new WriterException(WriterFailure.NONRETRYABLE, what + ": '" + abbreviate(sql) + "' returned nothing");
        }
        return out.getLast().strip();
    }

    boolean alive() {
        return process.isAlive();
    }

    private WriterException lost(String sql, String output) {
        String tail = output == null || output.isBlank() ? String.join(" / ", recent) : output;
        return new WriterException(WriterFailure.RETRYABLE, what + ": the connection to the database was lost"
                + (sql.isEmpty() ? "" : " during '" + abbreviate(sql) + "'") + (tail.isBlank() ? "" : ": " + tail));
    }

    private void remember(String l) {
        recent.add(l);
        if (recent.size() > 5) {
            recent.removeFirst();
        }
    }

    private static String abbreviate(String s) {
        String one = s.replace('\n', ' ').strip();
        return one.length() > 80 ? one.substring(0, 77) + "..." : one;
    }

    /** Ends the session (the server releases locks and backups held on it). */
    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException ignored) {
            // already gone
        }
        try {
            if (!process.waitFor(2, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
