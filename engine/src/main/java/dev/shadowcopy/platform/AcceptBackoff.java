package dev.shadowcopy.platform;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * What an accept loop does when {@code accept(2)} fails: wait, then try again; never give up, never spin.
 *
 * <p>The usual failure is the process's file descriptor limit ({@code EMFILE}, "Too many open files"): the
 * pending connection stays in the listen queue, so an immediate retry fails again at once and a loop that
 * only logs writes millions of lines while serving nobody. Here the wait grows from {@value #MIN_MS} ms to
 * {@value #MAX_MS} ms, and an <em>episode</em> of failures is logged twice: its first failure (warning) and,
 * at the next successful accept, how long it lasted and how many accepts failed (info). Connections queued in
 * the meantime are accepted once descriptors are free again.
 *
 * <p>Not thread-safe: one per accept loop.
 */
public final class AcceptBackoff {
    static final long MIN_MS = 10;
    static final long MAX_MS = 1000;

    private final System.Logger log;
    private final String listener;
    private long delayMs = MIN_MS;
    private long failures;
    private long episodeStart;

    /** @param listener what is listening, for the log ("API socket /var/lib/shadowcopy/shadowcopy.sock") */
    public AcceptBackoff(System.Logger log, String listener) {
        this.log = log;
        this.listener = listener;
    }

    /** Records a failed accept and waits before the next try. */
    public void failed(IOException e) throws InterruptedException {
        if (failures++ == 0) {
            episodeStart = System.nanoTime();
            String hint = String.valueOf(e.getMessage()).contains("open files")
                    ? " (the file descriptor limit: see 'Limits' in docs/service.md; raise LimitNOFILE or lower the "
                    + "connection limits)" : "";
            log.log(System.Logger.Level.WARNING, "{0}: accept failed: {1}{2}; backing off up to {3,number,#} ms between "
                    + "tries, logged again when it recovers", listener, e.getMessage(), hint, MAX_MS);
        }
        TimeUnit.MILLISECONDS.sleep(delayMs);
        delayMs = Math.min(MAX_MS, delayMs * 2);
    }

    /** Records a successful accept, ending an episode of failures if there was one. */
    public void succeeded() {
        if (failures > 0) {
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - episodeStart);
            log.log(System.Logger.Level.INFO, "{0}: accepting again after {1,number,#} ms and {2,number,#} failed "
                    + "accepts", listener, ms, failures);
            failures = 0;
            delayMs = MIN_MS;
        }
    }

    /** Failed accepts in the current episode (0 when accepting normally). */
    public long failures() {
        return failures;
    }
}
