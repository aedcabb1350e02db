package dev.shadowcopy.cli;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.volume.Sizes;
import java.io.PrintStream;

/**
 * Shows a job's progress on stderr: on a terminal one bar redrawn in place (bytes, rate, ETA); otherwise a
 * plain line per phase and every 10 seconds, so logs stay readable. Silent when {@code quiet}.
 */
final class ProgressPrinter implements Progress {
    private static final int WIDTH = 24;

    private final PrintStream out;
    private final boolean terminal;
    private final boolean quiet;
    private String phase;
    private long phaseStart;
    private long lastLine;
    private boolean drawn;

    ProgressPrinter(boolean quiet) {
        this.out = System.err;
        this.terminal = System.console() != null && System.console().isTerminal();
        this.quiet = quiet;
    }

    @Override
    public synchronized void update(String ph, long done, long total) {
        if (quiet) {
            return;
        }
        long now = System.nanoTime();
        if (!ph.equals(phase)) {
            finish();
            phase = ph;
            phaseStart = now;
            lastLine = 0;
        }
        if (total <= 0) { // a step without a size: say it once
            if (lastLine == 0) {
                out.println(ph + " …");
                lastLine = now;
            }
            return;
        }
        double secs = Math.max(1e-3, (now - phaseStart) / 1e9);
        double rate = done / secs;
        String eta = rate > 0 && total > done ? duration((long) ((total - done) / rate)) : "-";
        int pct = total <= 0 ? 100 : (int) Math.min(100, done * 100 / total);
        if (terminal) {
            int fill = pct * WIDTH / 100;
            out.print("\r" + ph + "  [" + "#".repeat(fill) + ".".repeat(WIDTH - fill) + "] " + pct + "%  "
                    + Sizes.format(done) + " / " + Sizes.format(total) + "  " + Sizes.format((long) rate) + "/s  ETA "
                    + eta + "   ");
            out.flush();
            drawn = true;
        } else if (lastLine == 0 || now - lastLine >= 10_000_000_000L || done >= total) {
            if (done >= total && lastLine != 0 && drawn) {
                return; // the end of this phase was printed already
            }
            out.println(ph + ": " + pct + "% (" + Sizes.format(done) + " of " + Sizes.format(total) + ", "
                    + Sizes.format((long) rate) + "/s)");
            lastLine = now;
            drawn = done >= total;
        }
    }

    /** Ends the bar's line (call before printing anything else). */
    synchronized void finish() {
        if (terminal && drawn) {
            out.println();
        }
        drawn = false;
    }

    private static String duration(long s) {
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }
}
