package dev.shadowcopy.service.sequence;

import java.time.Duration;

/**
 * The sequence's time limits. Each is enforced while it runs, not checked afterwards: a step that overruns is
 * abandoned at its deadline (writes released, file systems thawed, the set aborted), and whatever it does later is
 * undone when it finishes.
 *
 * @param freeze  writers' Freeze→Thaw window (VSS: 60 s); past it the set aborts with WRITERERROR_TIMEOUT
 * @param commit  how long writes may be held for the provider commit (VSS: 10 s; HOLD_WRITES_TIMEOUT)
 * @param event   any other writer event (identify, prepare, post-snapshot, backup complete, shutdown)
 * @param abort   how long Abort is waited for (its answer changes nothing, but it is logged)
 * @param flush   how long flushing and freezing the set's file systems (FIFREEZE) may take (FLUSH_WRITES_TIMEOUT)
 */
public record Timeouts(Duration freeze, Duration commit, Duration event, Duration abort, Duration flush) {
    public static final Timeouts DEFAULT = new Timeouts(Duration.ofSeconds(60), Duration.ofSeconds(10),
            Duration.ofSeconds(60), Duration.ofSeconds(15), Duration.ofSeconds(10));

    public Timeouts {
        for (Duration d : new Duration[] {freeze, commit, event, abort, flush}) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("every sequence time limit must be positive");
            }
        }
    }

    /** The limits with the flush limit equal to the commit limit (VSS counts both in its 10 s). */
    public Timeouts(Duration freeze, Duration commit, Duration event, Duration abort) {
        this(freeze, commit, event, abort, commit);
    }
}
