package dev.shadowcopy.provider;

import static dev.shadowcopy.provider.ModelRun.Create;
import static dev.shadowcopy.provider.ModelRun.Fault;
import static dev.shadowcopy.provider.ModelRun.Op;
import static dev.shadowcopy.provider.ModelRun.Revert;
import static dev.shadowcopy.provider.ModelRun.Run;
import static dev.shadowcopy.provider.ModelRun.Shape;
import static dev.shadowcopy.provider.ModelRun.Write;

import dev.shadowcopy.volume.VolumeLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Sequences the background-work property found, kept as regression tests.
 *
 * <p>Copy-on-write, 2026-12-05: a revert to a non-persistent copy cut by a crash, in an epoch whose writes were
 * covered by an intent. Recovery counted the intent's region as written (raising chunks past the copy's epoch)
 * and the revert it then finished found no preserved version for them. A revert's begin record now resolves the
 * intents before it. Deterministic without background threads (8 of its 20 seeds fail with the fix taken out); the background
 * variant is kept for the races around it.
 *
 * <p>The redirect-on-write race of 2026-11-25 (a merge's LIVE record queued behind a TOUCH) is forced
 * deterministically by {@code provider.row.RowMergeRaceTest}; replaying its shrunk sequence here 60 times still
 * passed with the bug about once in 200 runs.
 */
class BackgroundRaceRegressionTest {
    @Test
    void aRevertCutByACrashIsNotConfusedByAnIntentBeforeIt() throws Exception {
        List<Op> ops = List.of(new Write(0.0, 0.0, 0), new Create(false), new Write(0.0, 0.0, 0), new Fault(3),
                new Revert(0));
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            for (boolean background : new boolean[] {false, true}) {
                try {
                    new Run(Shape.SMALL_CHUNKS, VolumeLayout.COPY_ON_WRITE, i, background).execute(ops);
                } catch (AssertionError | java.io.IOException e) {
                    failures.add("run " + i + (background ? " (background)" : "") + ": " + e);
                }
            }
        }
        assertEquals(List.of(), failures);
    }
}
