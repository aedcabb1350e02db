package dev.shadowcopy.provider.cow;

import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.Journal;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Keeps the journal short: when a generation passes the threshold, a background thread rotates to a new
 * generation, captures the state, publishes it as the checkpoint, and deletes the old generations.
 *
 * <p>Durability order: (1) the new generation exists durably before any record goes to it; (2) the
 * checkpoint naming it as the replay start is durable (published) before (3) older generations are deleted.
 * A crash between any two steps leaves either the old checkpoint plus all generations since, or the new one.
 */
final class CheckpointScheduler {
    private static final System.Logger LOG = System.getLogger(CheckpointScheduler.class.getName());

    private final CowEngine engine;
    private final long threshold;
    private final boolean inline;
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final ReentrantLock running = new ReentrantLock();
    private volatile boolean shutdown;

    /**
     * @param inline run checkpoints on the thread that crossed the threshold (deterministic, for tests) instead
     *               of a background thread; callers hold no engine lock when they call {@link #maybeSchedule}
     */
    CheckpointScheduler(CowEngine engine, long threshold, boolean inline) {
        this.engine = engine;
        this.threshold = threshold;
        this.inline = inline;
    }

    /** Called with no engine lock held. */
    void maybeSchedule() {
        if (inline) {
            if (!shutdown && engine.journal.length() > threshold) {
                try {
                    runNow(false);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, "volume {0}: checkpoint failed: {1}", engine.volume,
                            e.toString());
                }
            }
            return;
        }
        if (!shutdown && engine.journal.length() > threshold && scheduled.compareAndSet(false, true)) {
            Maintenance.EXECUTOR.execute(() -> {
                try {
                    if (!shutdown) {
                        runNow(false);
                    }
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "volume {0}: checkpoint failed (the journal keeps "
                            + "growing, nothing is lost): {1}", engine.volume, e.toString());
                } finally {
                    scheduled.set(false);
                }
            });
        }
    }

    void runNow(boolean clean) throws IOException {
        running.lock();
        try {
            if (shutdown && !clean) {
                return; // a background run that lost the race with close
            }
            EngineFiles f = engine.files;
            Journal<JournalRecord> old;
            Checkpoint.State state;
            engine.metaGate.lockExclusive();
            try {
                old = engine.journal;
                // Records may have been appended without a sync (covered by intents). Only the last generation
                // may end torn, and the intents that cover them must not be forgotten while the new checkpoint is
                // not yet durable: sync the old generation before the new one starts.
                old.sync();
                engine.forgetIntents();
                Journal<JournalRecord> fresh = Journal.create(f.storage(), f.metaDir(), f.volumeId(),
                        old.generation() + 1, CowRecords.CODEC);
                engine.journal = fresh;
                List<CheckpointFile.Shadow> shadows = new ArrayList<>();
                for (ShadowRegistry.Shadow s : engine.registry.inPhases(ShadowRegistry.Phase.COMMITTED)) {
                    shadows.add(new CheckpointFile.Shadow(s.id, s.epoch, s.createdMillis, s.persistent));
                }
                // A clean close records the backing file's modification time: a different one at the next open
                // means something wrote the volume while Shadowcopy was not running (CowRecovery checks it).
                long mtime = clean ? CowRecovery.backingMtime(f.origin()) : -1;
                state = new Checkpoint.State(fresh.generation(), engine.epoch, engine.trackingSince, clean, mtime,
                        shadows, engine.epochs.copy(), engine.index.copy(engine.chunkCount()),
                        engine.revertInProgress);
            } finally {
                engine.metaGate.unlockExclusive();
            }
            Checkpoint.write(f.storage(), f.metaDir(), f.volumeId(), state);
            old.delete();
        } finally {
            running.unlock();
        }
    }

    /** Stops scheduling and waits for a running checkpoint to finish. */
    void shutdown() {
        running.lock();
        shutdown = true;
        running.unlock();
    }
}
