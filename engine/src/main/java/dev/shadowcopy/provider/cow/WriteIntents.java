package dev.shadowcopy.provider.cow;

import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.JournalRecord;
import dev.shadowcopy.provider.store.ShadowRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Write intents (md's write-intent bitmap, applied to change tracking): a first touch whose records no persistent copy
 * needs syncs the journal only for the first write to its <em>region</em> (64 MiB by default) in an epoch, with an
 * {@code INTENT(first, count, epoch)} record; later ones append their records unsynced. After a crash, every chunk of
 * an intent that no later creation or revert record resolves is counted as written in its epoch, unless a persistent
 * copy has its epoch in {@code [w, intent epoch)} (a write to such a chunk would have preserved for it and synced its
 * record). Change tracking may then over-report, at most the intent's regions of the crash epoch; it never misses.
 *
 * <p>Thread-safety: the marks are set after the intent's sync under the engine's {@code metaGate} shared, and
 * replaced under it exclusive when the journal generation changes (the intents leave with the old generation).
 */
final class WriteIntents {
    private final long chunks;
    /** log2 of the chunks per region. */
    private final int shift;
    /** Per region: 1 + the epoch whose INTENT is durable in the current journal generation, 0 if none. */
    private volatile AtomicIntegerArray marks;

    WriteIntents(long chunks, int chunkSize, long regionBytes) {
        long regionChunks = Math.max(1, Long.highestOneBit(Math.max(1, regionBytes / chunkSize)));
        this.chunks = chunks;
        this.shift = Long.numberOfTrailingZeros(regionChunks);
        this.marks = new AtomicIntegerArray((int) ((chunks + regionChunks - 1) >>> shift));
    }

    /**
     * INTENT records, put first in {@code records}, for the regions of {@code c0..c1} that have none durable for epoch
     * {@code e} yet; returned so that {@link #durable} can mark them once they are synced.
     */
    List<CowRecord.Intent> announce(List<JournalRecord> records, long c0, long c1, int e) {
        List<CowRecord.Intent> out = new ArrayList<>();
        AtomicIntegerArray m = marks;
        for (long r = c0 >>> shift; r <= c1 >>> shift; r++) {
            if (m.get((int) r) != e + 1) {
                long first = r << shift;
                int count = (int) (Math.min(chunks, first + (1L << shift)) - first);
                out.add(new CowRecord.Intent(first, count, e));
            }
        }
        records.addAll(0, out);
        return out;
    }

    /** The announced intents still in {@code records} (none was dropped for want of room) are durable now. */
    void durable(List<CowRecord.Intent> announced, List<JournalRecord> records, int e) {
        for (CowRecord.Intent i : announced) {
            if (records.contains(i)) {
                marks.set((int) (i.first() >>> shift), e + 1);
            }
        }
    }

    /** A new journal generation holds no intent yet. Caller holds {@code metaGate} exclusive. */
    void forget() {
        marks = new AtomicIntegerArray(marks.length());
    }

    /**
     * Recovery: counts the chunks of unresolved intents as written (raising their epochs) unless a persistent copy
     * sees their current content. Copies that do not pin a chunk are unaffected: older ones read preserved versions,
     * non-persistent ones are released at open. Returns the raised runs, which recovery makes durable as TOUCH records
     * before anything else is journalled.
     */
    static List<JournalRecord.Touch> resolve(List<CowRecord.Intent> unresolved, ChunkEpochs epochs,
                                             ShadowRegistry registry) {
        List<JournalRecord.Touch> raised = new ArrayList<>();
        for (CowRecord.Intent i : unresolved) {
            int x = i.epoch();
            long runStart = -1;
            for (long c = i.first(); c <= i.first() + i.count(); c++) {
                boolean raise = false;
                if (c < i.first() + i.count()) {
                    int w = epochs.get(c);
                    raise = w < x && !registry.anyPersistentLiveIn(w, x);
                    if (raise) {
                        epochs.raise(c, x);
                    }
                }
                if (raise && runStart < 0) {
                    runStart = c;
                } else if (!raise && runStart >= 0) {
                    raised.add(new JournalRecord.Touch(runStart, (int) (c - runStart), x));
                    runStart = -1;
                }
            }
        }
        return raised;
    }
}
