package dev.shadowcopy.provider.row;

import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.VersionIndex;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Moves live data back from shadow storage into the base file wherever no copy needs the chunk's base
 * version any more (after copies are deleted, a revert, or a lowered limit), so that the live volume is
 * contiguous again and slots return to the store — the background merge of redirect-on-write.
 *
 * <p>Per chunk, under its stripe lock and the shared metaGate: copy the slot into the base, publish "live in
 * the base" and queue its record. Then one commit per batch syncs the base before the records, and only then
 * are the slots reusable. A crash before the commit leaves the chunk live in its slot, intact.
 */
final class RowMerger {
    private static final System.Logger LOG = System.getLogger(RowMerger.class.getName());
    private static final int BATCH = 256;

    private final RowEngine engine;
    private final boolean inline;
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final ReentrantLock running = new ReentrantLock();
    private volatile boolean shutdown;

    RowMerger(RowEngine engine, boolean inline) {
        this.engine = engine;
        this.inline = inline;
    }

    /** Asks for a merge pass; called with no engine lock held. */
    void schedule() {
        if (shutdown) {
            return;
        }
        if (inline) {
            run();
        } else if (scheduled.compareAndSet(false, true)) {
            Maintenance.EXECUTOR.execute(() -> {
                scheduled.set(false);
                run();
            });
        }
    }

    private void run() {
        running.lock();
        try {
            while (!shutdown && engine.creationsInProgress.get() == 0) { // rescheduled when the creation ends
                // Only live versions whose location is durable may move: otherwise, after a crash, the base
                // (the durable live location again) would hold new data no record accounts for.
                engine.commit();
                List<long[]> batch = candidates(BATCH);
                if (batch.isEmpty()) {
                    return;
                }
                mergeBatch(batch);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "volume {0}: merging redirected chunks stopped: {1} (data is intact; "
                    + "the merge is retried later)", engine.volume, e.toString());
        } finally {
            running.unlock();
        }
    }

    /** Chunks live in a slot whose base version no copy needs: {chunk, slot, epoch}. */
    private List<long[]> candidates(int max) {
        List<long[]> out = new ArrayList<>();
        for (long c = 0; c < engine.chunks && out.size() < max; c++) {
            int slot = engine.state.location(c);
            if (slot >= 0 && !engine.state.versions.references(c, VersionIndex.BASE)
                    && !engine.state.versions.references(c, slot)) {
                out.add(new long[] {c, slot, engine.state.liveEpoch.get(c)});
            }
        }
        return out;
    }

    private void mergeBatch(List<long[]> batch) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(engine.chunkSize(), 4096);
            for (long[] candidate : batch) {
                if (engine.creationsInProgress.get() > 0) {
                    break; // a creation waits for the commit below: keep it short
                }
                long c = candidate[0];
                engine.lockStripes(c, c);
                try {
                    engine.metaGate.lockShared();
                    try {
                        mergeOne(c, (int) candidate[1], (int) candidate[2], buf);
                    } finally {
                        engine.metaGate.unlockShared();
                    }
                } finally {
                    engine.unlockStripes(c, c);
                }
            }
        }
        engine.commit(); // base durable, then the records, then the slots are free
    }

    /**
     * Moves chunk {@code c} from {@code slot} to the base if it is still there, unchanged since it was picked
     * (its location durable) and no copy needs its base version. Caller holds its stripe and the metaGate.
     */
    private void mergeOne(long c, int slot, int epoch, MemorySegment buf) throws IOException {
        if (engine.state.location(c) != slot || engine.state.liveEpoch.get(c) != epoch
                || engine.state.versions.references(c, VersionIndex.BASE)
                || engine.state.versions.references(c, slot)) {
            return; // moved (its new location may not be durable yet) or needed by a copy
        }
        long start = c << engine.shift;
        MemorySegment content = buf.asSlice(0, Math.min(engine.chunkSize(), engine.size() - start));
        engine.slots.read(slot, 0, content);
        engine.base.write(start, content);
        engine.mergedToBase(c);
    }

    /**
     * Merges what can be merged right now, from the write path of chunk {@code busy} (which holds the metaGate
     * shared, the room lock and its own stripes): chunks whose stripe is taken are skipped, never waited for.
     * The caller commits afterwards.
     */
    void mergeForRoom(long busy) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(engine.chunkSize(), 4096);
            for (long[] candidate : candidates(Integer.MAX_VALUE)) {
                long c = candidate[0];
                if (c == busy || !engine.tryLockStripe(c)) {
                    continue;
                }
                try {
                    mergeOne(c, (int) candidate[1], (int) candidate[2], buf);
                } finally {
                    engine.unlockStripe(c);
                }
            }
        }
    }

    /** Stops merging and waits for a running batch. */
    void shutdown() {
        shutdown = true;
        running.lock();
        running.unlock();
    }
}
