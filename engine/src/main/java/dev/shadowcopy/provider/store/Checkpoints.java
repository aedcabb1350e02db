package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Keeps an epoch engine's journal short: when its current generation passes the threshold, a checkpoint runs on a
 * maintenance thread (or inline, for deterministic tests), one at a time, and none after shutdown but the final clean
 * one. A checkpoint rotates the journal to a new generation, captures the state (the engine's
 * {@link EpochEngine#capture}), publishes it and deletes the older generations.
 *
 * <p>Durability order: (1) the new generation exists durably before any record goes to it; (2) the checkpoint naming
 * it as the replay start is published (durable) before (3) older generations are deleted. A crash between any two
 * leaves either the old checkpoint plus every generation since, or the new one. The capture runs with the engine's
 * metaGate exclusive: no record can be durable in the old generation but not yet applied in memory, or it would be in
 * neither the checkpoint nor the journal after it.
 *
 * <p>Locking: {@code running} is held for a whole checkpoint, before the engine's metaGate; callers of
 * {@link #maybeSchedule} hold no engine lock (an inline checkpoint takes the metaGate exclusively).
 */
public final class Checkpoints {
    private static final System.Logger LOG = System.getLogger(Checkpoints.class.getName());

    /** What a checkpoint writes, once the gate is released. */
    @FunctionalInterface
    public interface Image {
        void write(EngineFiles files) throws IOException;
    }

    private final EpochEngine engine;
    private final long threshold;
    private final boolean inline;
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final ReentrantLock running = new ReentrantLock();
    private volatile boolean shutdown;

    Checkpoints(EpochEngine engine, long threshold, boolean inline) {
        this.engine = engine;
        this.threshold = threshold;
        this.inline = inline;
    }

    /** Starts a checkpoint if the journal passed the threshold. Called with no engine lock held. */
    public void maybeSchedule() {
        if (shutdown || engine.journal.length() <= threshold) {
            return;
        }
        if (inline) {
            try {
                runNow(false);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "volume {0}: checkpoint failed (the journal keeps growing, "
                        + "nothing is lost): {1}", engine.volume, e.toString());
            }
        } else if (scheduled.compareAndSet(false, true)) {
            Maintenance.EXECUTOR.execute(() -> {
                try {
                    runNow(false);
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "volume {0}: checkpoint failed (the journal keeps growing, "
                            + "nothing is lost): {1}", engine.volume, e.toString());
                } finally {
                    scheduled.set(false);
                }
            });
        }
    }

    /** Runs a checkpoint now; after {@link #shutdown} only a {@code clean} one (the close's). */
    public void runNow(boolean clean) throws IOException {
        running.lock();
        try {
            if (shutdown && !clean) {
                return; // a background run that lost the race with close
            }
            rotateAndWrite(clean);
        } finally {
            running.unlock();
        }
    }

    private void rotateAndWrite(boolean clean) throws IOException {
        EngineFiles files = engine.files;
        Journal<JournalRecord> old;
        Image image;
        engine.metaGate.lockExclusive();
        try {
            old = engine.journal;
            engine.beforeRotation(old);
            Journal<JournalRecord> fresh = Journal.create(files.storage(), files.metaDir(), files.volumeId(),
                    old.generation() + 1, engine.codec);
            engine.journal = fresh;
            List<CheckpointFile.Shadow> copies = new ArrayList<>();
            for (Shadow s : engine.registry.inPhases(Phase.COMMITTED)) {
                copies.add(new CheckpointFile.Shadow(s.id, s.epoch, s.createdMillis, s.persistent));
            }
            image = engine.capture(new CheckpointFile.Header(fresh.generation(), engine.epoch,
                    engine.tracking.since(), engine.chunks, clean), copies);
        } finally {
            engine.metaGate.unlockExclusive();
        }
        image.write(files);
        old.delete();
    }

    /** Stops scheduling and waits for a running checkpoint to finish. */
    public void shutdown() {
        running.lock();
        shutdown = true;
        running.unlock();
    }
}
