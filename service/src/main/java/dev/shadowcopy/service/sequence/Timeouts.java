package dev.shadowcopy.service.sequence;

import java.time.Duration;

/**
 * The sequence's time limits.
 *
 * @param freeze  writers' Freeze→Thaw window (VSS: 60 s); past it the set aborts with WRITERERROR_TIMEOUT
 * @param commit  how long writes may be held for the provider commit (VSS: 10 s)
 * @param event   any other writer event (identify, prepare, post-snapshot, backup complete, shutdown)
 * @param abort   how long Abort is waited for (its answer changes nothing, but it is logged)
 */
public record Timeouts(Duration freeze, Duration commit, Duration event, Duration abort) {
    public static final Timeouts DEFAULT = new Timeouts(Duration.ofSeconds(60), Duration.ofSeconds(10),
            Duration.ofSeconds(60), Duration.ofSeconds(15));
}
