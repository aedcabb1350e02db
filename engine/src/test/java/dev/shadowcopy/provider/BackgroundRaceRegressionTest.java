package dev.shadowcopy.provider;

import static dev.shadowcopy.provider.ModelRun.Crash;
import static dev.shadowcopy.provider.ModelRun.Create;
import static dev.shadowcopy.provider.ModelRun.Delete;
import static dev.shadowcopy.provider.ModelRun.Fault;
import static dev.shadowcopy.provider.ModelRun.Flush;
import static dev.shadowcopy.provider.ModelRun.Op;
import static dev.shadowcopy.provider.ModelRun.ReadCopy;
import static dev.shadowcopy.provider.ModelRun.Revert;
import static dev.shadowcopy.provider.ModelRun.Run;
import static dev.shadowcopy.provider.ModelRun.Shape;
import static dev.shadowcopy.provider.ModelRun.Stream;
import static dev.shadowcopy.provider.ModelRun.Write;

import dev.shadowcopy.volume.VolumeLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Sequences the background-work property found, replayed many times (the race is timing-dependent).
 *
 * <p>Redirect-on-write, 2026-11-25: the background merge of a chunk queues a LIVE record carrying the chunk's
 * old epoch; an in-place write that follows appends its TOUCH (new epoch) to the journal at once, ahead of the
 * queued record. Replay met TOUCH then LIVE and took the chunk's epoch back, so change tracking after a crash
 * called a rewritten chunk unchanged (an incremental backup would have skipped it). It failed about one run in
 * twelve before the fix.
 *
 * <p>Copy-on-write, 2026-12-05: a revert to a non-persistent copy cut by a crash, in an epoch whose writes were
 * covered by an intent. Recovery counted the intent's region as written (raising chunks past the copy's epoch)
 * and the revert it then finished found no preserved version for them. A revert's begin record now resolves the
 * intents before it.
 */
class BackgroundRaceRegressionTest {
    @Test
    void mergeRecordQueuedBehindATouchDoesNotTakeTheEpochBack() throws Exception {
        List<Op> ops = List.of(new Create(true), new Stream(0.0, 2, 0), new Stream(1.0, 2, 1),
                new Write(0.13, 0.36, 558552), new Crash(), new Stream(0.09, 13, 48), new Flush(),
                new Create(false), new Crash(), new Flush(), new Write(1.0, 0.0, 2), new Delete(5),
                new ReadCopy(1, 0.0, 1.0), new Write(0.0, 1.0, -2147483647));
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            try {
                new Run(Shape.LIMITED_STORAGE, VolumeLayout.REDIRECT_ON_WRITE, 16426 + i, true).execute(ops);
            } catch (AssertionError e) {
                failures.add("run " + i + ": " + e.getMessage());
            }
        }
        assertEquals(List.of(), failures);
    }

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
