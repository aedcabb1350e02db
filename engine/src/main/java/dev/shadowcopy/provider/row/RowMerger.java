package dev.shadowcopy.provider.row;

import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.MetaGate;
import dev.shadowcopy.provider.store.SlotStore;
import dev.shadowcopy.provider.store.StripeLocks;
import dev.shadowcopy.provider.store.VersionIndex;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
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

    /** What a merge needs from its engine. */
    interface Engine {
        /** Makes every queued change durable (only durable live locations may move). */
        void commit() throws IOException;

        /** Publishes chunk {@code c}'s live version in the base and queues its record; stripe and gate held. */
        void mergedToBase(long c) throws IOException;
    }

    private final String volume;
    private final Engine engine;
    private final RowState state;
    private final StripeLocks stripes;
    private final MetaGate metaGate;
    private final SlotStore slots;
    private final StorageFile origin;
    private final int chunkSize;
    private final long size;
    /** Creations between prepare and their end: a merge starts no batch, and cuts one short, while there are any. */
    private final AtomicInteger creations;
    private final boolean inline;
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final ReentrantLock running = new ReentrantLock();
    private volatile boolean shutdown;

    RowMerger(String volume, Engine engine, RowState state, StripeLocks stripes, MetaGate metaGate, SlotStore slots,
              StorageFile origin, int chunkSize, long size, AtomicInteger creations, boolean inline) {
        this.volume = volume;
        this.engine = engine;
        this.state = state;
        this.stripes = stripes;
        this.metaGate = metaGate;
        this.slots = slots;
        this.origin = origin;
        this.chunkSize = chunkSize;
        this.size = size;
        this.creations = creations;
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
            while (!shutdown && creations.get() == 0) { // rescheduled when the creation ends
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
                    + "the merge is retried later)", volume, e.toString());
        } finally {
            running.unlock();
        }
    }

    /** Chunks live in a slot whose base version no copy needs: {chunk, slot, epoch}. */
    private List<long[]> candidates(int max) {
        List<long[]> out = new ArrayList<>();
        for (long c = 0; c < state.chunks && out.size() < max; c++) {
            int slot = state.location(c);
            if (slot >= 0 && !state.versions.references(c, VersionIndex.BASE) && !state.versions.references(c, slot)) {
                out.add(new long[] {c, slot, state.liveEpoch.get(c)});
            }
        }
        return out;
    }

    private void mergeBatch(List<long[]> batch) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(chunkSize, 4096);
            for (long[] candidate : batch) {
                if (creations.get() > 0) {
                    break; // a creation waits for the commit below: keep it short
                }
                long c = candidate[0];
                stripes.lock(c, c);
                try {
                    metaGate.lockShared();
                    try {
                        mergeOne(c, (int) candidate[1], (int) candidate[2], buf);
                    } finally {
                        metaGate.unlockShared();
                    }
                } finally {
                    stripes.unlock(c, c);
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
        if (state.location(c) != slot || state.liveEpoch.get(c) != epoch
                || state.versions.references(c, VersionIndex.BASE) || state.versions.references(c, slot)) {
            return; // moved (its new location may not be durable yet) or needed by a copy
        }
        long start = c * chunkSize;
        MemorySegment content = buf.asSlice(0, Math.min(chunkSize, size - start));
        slots.read(slot, 0, content);
        origin.write(start, content);
        engine.mergedToBase(c);
    }

    /**
     * Merges what can be merged right now, from the write path of chunk {@code busy} (which holds the metaGate
     * shared, the room lock and its own stripes): chunks whose stripe is taken are skipped, never waited for.
     * The caller commits afterwards.
     */
    void mergeForRoom(long busy) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(chunkSize, 4096);
            for (long[] candidate : candidates(Integer.MAX_VALUE)) {
                long c = candidate[0];
                if (c == busy || !stripes.tryLock(c)) {
                    continue;
                }
                try {
                    mergeOne(c, (int) candidate[1], (int) candidate[2], buf);
                } finally {
                    stripes.unlock(c);
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
