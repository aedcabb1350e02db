package dev.shadowcopy.testing;

import static org.junit.jupiter.api.Assertions.fail;

import dev.shadowcopy.volume.ManagedVolume;
import java.io.IOException;
import java.util.Arrays;

/** What change tracking reports, per chunk, and the check every crash test makes of it. */
public final class ChangeTracking {
    private ChangeTracking() {}

    /** The chunks of {@code [0, size)} that {@code v} reports as changed since the copy with {@code sequence}. */
    public static boolean[] changedChunks(ManagedVolume v, int sequence, long size, int chunkSize) throws IOException {
        boolean[] changed = new boolean[(int) ((size + chunkSize - 1) / chunkSize)];
        v.mapChangesSince(sequence, 0, size, (off, len, flags) -> {
            if ((flags & 1) != 0) {
                for (long c = off / chunkSize; c < (off + len + chunkSize - 1) / chunkSize; c++) {
                    changed[(int) c] = true;
                }
            }
            return true;
        });
        return changed;
    }

    /**
     * Change tracking must never miss a change: every chunk where {@code live} differs from {@code copy} is
     * reported as changed (reporting more is allowed). {@code copyName} says which copy, for the message.
     */
    public static void assertNoMissedChange(boolean[] changed, byte[] live, byte[] copy, int chunkSize,
                                            String copyName) {
        for (int c = 0; c < changed.length; c++) {
            int from = c * chunkSize;
            int to = Math.min(live.length, from + chunkSize);
            if (!changed[c] && !Arrays.equals(live, from, to, copy, from, to)) {
                fail("change tracking misses chunk " + c + ": it differs from " + copyName
                        + " but is reported unchanged since it");
            }
        }
    }
}
