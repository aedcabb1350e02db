package dev.shadowcopy.provider.cow;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.platform.NativeFile;
import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.CorruptMetadataException;
import dev.shadowcopy.provider.store.EpochEngine;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.JournalRecord;
import dev.shadowcopy.provider.store.Replay;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.SlotStore;
import dev.shadowcopy.provider.store.VersionIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Opens a copy-on-write volume: loads the checkpoint, replays the journal generations after it ({@link Replay}'s
 * rules), counts the chunks of unresolved write intents as written, drops what a crash left half-done, and finishes an
 * interrupted revert. A slot claimed by a later record replaces an earlier owner: at runtime a slot is reused only
 * after its previous record was freed.
 */
public final class CowRecovery {
    private static final System.Logger LOG = System.getLogger(CowRecovery.class.getName());

    private CowRecovery() {}

    /**
     * Opens (or, when the metadata directory holds nothing yet, initialises) the engine of a volume. On success the
     * engine owns {@code files.origin()}.
     */
    public static CowEngine open(EngineFiles files, EngineOptions options, VolumeEvents events) throws IOException {
        long chunks = (files.size() + files.chunkSize() - 1) / files.chunkSize();
        CowCheckpoint.State cp = CowCheckpoint.read(files.storage(), files.metaDir(), files.volumeId(), chunks);
        CowReplay st = new CowReplay(chunks, cp);
        Journal.ReplayStats stats = new Journal.ReplayStats();
        Journal<JournalRecord> journal = st.replayJournal(files, CowRecord.CODEC, stats);
        if (stats.tornTailBytes > 0) {
            LOG.log(System.Logger.Level.INFO, "volume {0}: dropped {1} bytes of a journal record torn by a crash",
                    files.volumeName(), stats.tornTailBytes);
        }
        ShadowRegistry registry = st.registry();
        List<JournalRecord.Touch> unannounced = WriteIntents.resolve(st.intents, st.epochs, registry);
        // Preservations made for copies whose creation never became durable, or for deleted copies.
        st.index.removeIf((c, from, to, slot) -> !registry.anyLiveIn(from, to + 1));
        SlotStore slots = Replay.shadowStorage(files, options, journal, st.index);
        slots.opened();

        CowEngine engine = new CowEngine(files, new EpochEngine.Recovered(st.epochs, st.index, slots, registry,
                journal, st.epoch(), st.trackingSince()), options, events);
        try {
            if (!unannounced.isEmpty()) {
                engine.recordRecoveredTouches(unannounced);
            }
            if (st.revertPending != null) {
                ShadowRegistry.Shadow target = registry.get(st.revertPending);
                if (target == null) {
                    throw new CorruptMetadataException("volume " + files.volumeName() + ": an unfinished revert names "
                            + "shadow copy " + st.revertPending + ", which does not exist");
                }
                engine.resumeRevert(target);
            }
            // Written while closed? After a clean close nothing of ours writes the backing until this open, so a
            // changed modification time is someone else's write, which change tracking never saw. (After a crash
            // our own unjournalled rewrites also move it: a harmless false alarm, the next backup reads all.)
            if (cp != null && cp.header().cleanClose() && cp.backingMtime() >= 0 && stats.records == 0) {
                long now = backingMtime(files);
                if (now >= 0 && now != cp.backingMtime()) {
                    engine.trackingUntrusted("its backing file was modified while the volume was not open (the "
                            + "modification time changed)");
                }
            }
            engine.opened();
            if (cp != null && cp.header().cleanClose()) {
                // Open now: the clean-close mark (and its modification time) must not outlive this open, or a
                // crash of this run — whose writes to already-touched chunks journal nothing — would look like
                // a write while closed at the next open and restart change tracking for nothing.
                engine.checkpoint();
            }
        } catch (IOException | RuntimeException e) {
            engine.closeAbruptly();
            throw e;
        }
        return engine;
    }

    /** Modification time (ns) of a regular backing file; -1 for block devices and simulated storage. */
    static long backingMtime(EngineFiles files) {
        if (files.origin() instanceof NativeFile nf && !nf.isBlockDevice()) {
            try {
                return Files.getLastModifiedTime(files.originPath()).to(TimeUnit.NANOSECONDS);
            } catch (IOException e) {
                return -1;
            }
        }
        return -1;
    }

    /** After a revert: chunks written after the target's epoch now hold its content and belong to {@code newEpoch}. */
    static void applyRevertEnd(ChunkEpochs epochs, int targetEpoch, int newEpoch) {
        List<long[]> runs = new ArrayList<>();
        epochs.forEachRun((first, count, e) -> {
            if (e > targetEpoch) {
                runs.add(new long[] {first, count});
            }
        });
        for (long[] run : runs) {
            for (long c = run[0]; c < run[0] + run[1]; c++) {
                epochs.set(c, newEpoch);
            }
        }
    }

    /** The copy-on-write state being rebuilt. */
    private static final class CowReplay extends Replay {
        final ChunkEpochs epochs;
        final VersionIndex index;
        UUID revertPending;
        /**
         * Intents not followed by a creation or revert record. Records a crash lost are all after the last one
         * replayed, so an intent followed by such a barrier (after which no write of the intent's epoch is
         * journalled: the epoch moved, or writes were held for the revert) lost nothing.
         */
        final List<CowRecord.Intent> intents = new ArrayList<>();

        CowReplay(long chunks, CowCheckpoint.State cp) {
            super(chunks, cp == null ? null : cp.header(), cp == null ? List.of() : cp.shadows());
            this.epochs = cp == null ? new ChunkEpochs(chunks) : cp.epochs();
            this.index = cp == null ? new VersionIndex(chunks) : cp.index();
            this.revertPending = cp == null ? null : cp.revertPending();
        }

        @Override
        protected void created() {
            intents.clear();
        }

        @Override
        protected void touch(long c, int epoch) {
            epochs.raise(c, epoch);
        }

        @Override
        protected void applyOwn(JournalRecord r) {
            switch ((CowRecord) r) {
                case CowRecord.Preserve p -> {
                    checkChunks(p.chunk(), 1);
                    if (p.from() < 0 || p.from() > p.to() || p.slot() < VersionIndex.ZERO) {
                        throw new IllegalStateException("impossible preservation record " + p);
                    }
                    index.insert(p.chunk(), p.from(), p.to(), p.slot());
                    epochs.raise(p.chunk(), p.to() + 1);
                    epoch = Math.max(epoch, p.to() + 1);
                }
                case CowRecord.Intent i -> {
                    checkChunks(i.first(), i.count());
                    intents.add(i);
                    epoch = Math.max(epoch, i.epoch());
                }
                case CowRecord.RevertBegin b -> {
                    revertPending = b.id();
                    intents.clear(); // and a pending revert must see the epochs as they were written
                }
            }
        }

        @Override
        protected void reverted(int target, int newEpoch) {
            applyRevertEnd(epochs, target, newEpoch);
            revertPending = null;
            intents.clear();
        }
    }
}
