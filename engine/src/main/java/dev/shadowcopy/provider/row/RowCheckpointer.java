package dev.shadowcopy.provider.row;

import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.ShadowRegistry;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Keeps a redirect-on-write volume's journal short. Order: queued records are committed (so the image holds
 * nothing that is not durable), a new journal generation is created durably, the state is captured under the
 * exclusive metaGate, the checkpoint naming the new generation is published, then older generations go.
 * Lock order as everywhere: metaGate → commit lock.
 */
final class RowCheckpointer {
    private static final System.Logger LOG = System.getLogger(RowCheckpointer.class.getName());
    private final RowEngine engine;
    private final long threshold;
    private final boolean inline;
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final ReentrantLock running = new ReentrantLock();
    private volatile boolean shutdown;

    RowCheckpointer(RowEngine engine, long threshold, boolean inline) {
        this.engine = engine;
        this.threshold = threshold;
        this.inline = inline;
    }

    /** Called with no engine lock held. */
    void maybeSchedule() {
        if (shutdown || engine.journal.length() <= threshold) {
            return;
        }
        if (inline) {
            try {
                runNow(false);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "volume {0}: checkpoint failed: {1}", engine.volume, e.toString());
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

    void runNow(boolean clean) throws IOException {
        running.lock();
        try {
            if (shutdown && !clean) {
                return;
            }
            EngineFiles f = engine.files;
            Journal<RowRecord> old;
            RowCheckpoint.Image image;
            {
                engine.metaGate.lockExclusive();
                try {
                    engine.commit(); // nothing queued may be in the image without being durable
                    old = engine.journal;
                    Journal<RowRecord> fresh = Journal.create(f.storage(), f.metaDir(), f.volumeId(),
                            old.generation() + 1, RowRecords.CODEC);
                    engine.journal = fresh;
                    List<CheckpointFile.Shadow> shadows = new ArrayList<>();
                    for (ShadowRegistry.Shadow s : engine.registry.inPhases(ShadowRegistry.Phase.COMMITTED)) {
                        shadows.add(new CheckpointFile.Shadow(s.id, s.epoch, s.createdMillis, s.persistent));
                    }
                    image = new RowCheckpoint.Image(new CheckpointFile.Header(fresh.generation(), engine.epoch,
                            engine.trackingSince, engine.chunks, clean), shadows, engine.state.copy());
                } finally {
                    engine.metaGate.unlockExclusive();
                }
            }
            RowCheckpoint.write(f.storage(), f.metaDir(), f.volumeId(), image);
            old.delete();
        } finally {
            running.unlock();
        }
    }

    void shutdown() {
        running.lock();
        shutdown = true;
        running.unlock();
    }
}
