package dev.shadowcopy.provider.cow;

import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.SlotStore;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.CorruptMetadataException;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.device.VolumeEvents;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Opens a copy-on-write volume: loads the checkpoint, replays the journal generations after it in order,
 * drops what a crash left half-done, and finishes an interrupted revert.
 *
 * <p>Replay rules (each record is idempotent):
 * <ul>
 *   <li>A record's effect is applied in journal order; records are never freed during replay, because a
 *       shadow copy's creation record is written after the preservations made for it (the creation is durable
 *       only after the backing file was flushed). After the last record, every preservation no surviving
 *       copy needs is dropped.</li>
 *   <li>A slot claimed by a later record replaces an earlier owner: at runtime a slot is reused only after
 *       its previous record was freed.</li>
 *   <li>Only the last generation may end in a torn record; it is cut off and zeroed.</li>
 * </ul>
 */
public final class CowRecovery {
    private static final System.Logger LOG = System.getLogger(CowRecovery.class.getName());

    private CowRecovery() {}

    /** What the engine starts from. */
    record Recovered(ChunkEpochs epochs, VersionIndex index, SlotStore diff, ShadowRegistry registry,
                     Journal<JournalRecord> journal, int epoch, int trackingSince) {}

    /**
     * Opens (or, when the metadata directory holds nothing yet, initialises) the engine of a volume.
     * The caller keeps ownership of nothing: on success the engine owns {@code files.origin()}.
     */
    public static CowEngine open(EngineFiles files, EngineOptions options, VolumeEvents events) throws IOException {
        long chunks = (files.size() + files.chunkSize() - 1) / files.chunkSize();
        Checkpoint.State cp = Checkpoint.read(files.storage(), files.metaDir(), files.volumeId(), chunks);
        Replay st = cp == null ? new Replay(chunks) : new Replay(cp);

        List<Long> generations = new ArrayList<>();
        for (String name : files.storage().list(files.metaDir())) {
            long g = Journal.generationOf(name);
            if (g >= 0) {
                if (g < st.nextGeneration) {
                    files.storage().delete(files.metaDir().resolve(name)); // obsolete since the checkpoint
                } else {
                    generations.add(g);
                }
            }
        }
        generations.sort(Long::compare);
        Journal<JournalRecord> journal = null;
        Journal.ReplayStats stats = new Journal.ReplayStats();
        try {
            for (int i = 0; i < generations.size(); i++) {
                long g = generations.get(i);
                if (i > 0 && g != generations.get(i - 1) + 1) {
                    throw new CorruptMetadataException(files.metaDir() + ": journal generation " + (generations.get(i - 1) + 1)
                            + " is missing between " + generations.get(i - 1) + " and " + g);
                }
                if (journal != null) {
                    journal.close();
                }
                try {
                    journal = Journal.replay(files.storage(), files.metaDir(), files.volumeId(), g, CowRecords.CODEC,
                            st::apply, stats);
                } catch (IllegalStateException bad) {
                    throw new CorruptMetadataException(files.metaDir().resolve(Journal.fileName(g)) + ": "
                            + bad.getMessage());
                }
            }
            if (!generations.isEmpty() && generations.getFirst() != st.nextGeneration) {
                throw new CorruptMetadataException(files.metaDir() + ": the checkpoint continues at journal generation "
                        + st.nextGeneration + " but the first one present is " + generations.getFirst());
            }
            if (journal == null) {
                journal = Journal.create(files.storage(), files.metaDir(), files.volumeId(), st.nextGeneration,
                        CowRecords.CODEC);
            }
        } catch (IOException | RuntimeException e) {
            if (journal != null) {
                journal.close();
            }
            throw e;
        }
        if (stats.tornTailBytes > 0) {
            LOG.log(System.Logger.Level.INFO, "volume {0}: dropped {1} bytes of a journal record torn by a crash",
                    files.volumeName(), stats.tornTailBytes);
        }

        ShadowRegistry registry = new ShadowRegistry();
        for (CheckpointFile.Shadow s : st.shadows.values()) {
            registry.add(s.id(), s.epoch(), s.createdMillis(), s.persistent(), Phase.COMMITTED);
        }
        List<JournalRecord.Touch> unannounced = st.resolveIntents(registry);
        // Preservations made for copies whose creation never became durable, or for deleted copies.
        st.index.removeIf((c, from, to, slot) -> !registry.anyLiveIn(from, to + 1));

        boolean newDiffFile = !files.storage().exists(files.diffPath());
        StorageFile diffFile = files.storage().open(files.diffPath(), OpenMode.CREATE);
        if (newDiffFile) {
            // the name must be durable before any preserved data in it is relied on
            files.storage().syncDirectory(files.diffPath().getParent());
        }
        SlotStore diff;
        try {
            diff = new SlotStore(diffFile, files.chunkSize(), options.shadowStorageMaxBytes(),
                    options.prepareAheadBytes(), options.inlineMaintenance() ? null : Maintenance.EXECUTOR);
        } catch (IOException | RuntimeException e) {
            diffFile.close();
            journal.close();
            throw e;
        }
        st.index.forEach((id, c, from, to, slot) -> {
            if (slot >= 0) {
                diff.markUsed(slot);
            }
        });
        diff.opened();

        CowEngine engine = new CowEngine(files, new Recovered(st.epochs, st.index, diff, registry, journal,
                st.epoch, st.trackingSince), events, options.maxShadowCopies(), options.checkpointBytes(),
                options.inlineMaintenance(), options.intentRegionBytes());
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
                LOG.log(System.Logger.Level.INFO, "volume {0}: finishing the revert to {1} that a crash interrupted",
                        files.volumeName(), target.id);
                engine.revertInProgress = target.id;
                Reverter.run(engine, target);
            }
            // Written while closed? After a clean close nothing of ours writes the backing until this open, so a
            // changed modification time is someone else's write, which change tracking never saw. (After a crash
            // our own unjournalled rewrites also move it: a harmless false alarm, the next backup reads all.)
            if (cp != null && cp.cleanClose() && cp.backingMtime() >= 0 && stats.records == 0) {
                long now = backingMtime(files.origin());
                if (now >= 0 && now != cp.backingMtime()) {
                    engine.trackingUntrusted("its backing file was modified while the volume was not open (the "
                            + "modification time changed)");
                }
            }
            for (ShadowRegistry.Shadow s : registry.inPhases(Phase.COMMITTED)) {
                if (!s.persistent) {
                    var info = engine.info(s);
                    if (engine.deleteShadowCopy(new ShadowCopyId(s.id), "non-persistent")) {
                        events.shadowCopyReleased(files.volumeName(), info,
                                "non-persistent shadow copy released when the volume was reopened");
                    }
                }
            }
            if (cp != null && cp.cleanClose()) {
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

    /** Modification time (ns) of a regular backing file; -1 for block devices and non-local storage. */
    static long backingMtime(StorageFile origin) {
        if (origin instanceof dev.shadowcopy.platform.NativeFile nf && !nf.isBlockDevice()) {
            try {
                return java.nio.file.Files.getLastModifiedTime(nf.path())
                        .to(java.util.concurrent.TimeUnit.NANOSECONDS);
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

    /** The state being rebuilt. */
    private static final class Replay {
        final long chunks;
        final ChunkEpochs epochs;
        final VersionIndex index;
        final Map<UUID, CheckpointFile.Shadow> shadows = new LinkedHashMap<>();
        long nextGeneration;
        int epoch;
        int trackingSince;
        UUID revertPending;
        /**
         * Intents not followed by a creation or revert record. Records a crash lost are all after the last one
         * replayed, so an intent followed by such a barrier (after which no write of the intent's epoch is
         * journalled: the epoch moved, or writes were held for the revert) lost nothing.
         */
        final List<JournalRecord.Intent> intents = new ArrayList<>();

        Replay(long chunks) {
            this.chunks = chunks;
            this.epochs = new ChunkEpochs(chunks);
            this.index = new VersionIndex(chunks);
            this.nextGeneration = 1;
        }

        Replay(Checkpoint.State cp) {
            this.chunks = cp.epochs().chunks();
            this.epochs = cp.epochs();
            this.index = cp.index();
            for (CheckpointFile.Shadow s : cp.shadows()) {
                shadows.put(s.id(), s);
            }
            this.nextGeneration = cp.nextGeneration();
            this.epoch = cp.epoch();
            this.trackingSince = cp.trackingSince();
            this.revertPending = cp.revertPending();
        }

        void apply(JournalRecord r) {
            switch (r) {
                case JournalRecord.ShadowCreate c -> {
                    shadows.put(c.id(), new CheckpointFile.Shadow(c.id(), c.epoch(), c.createdMillis(), c.persistent()));
                    epoch = Math.max(epoch, c.epoch() + 1);
                    intents.clear();
                }
                case JournalRecord.ShadowDelete d -> shadows.remove(d.id());
                case JournalRecord.Preserve p -> {
                    checkChunk(p.chunk(), 1);
                    if (p.from() < 0 || p.from() > p.to() || p.slot() < VersionIndex.ZERO) {
                        throw new IllegalStateException("impossible preservation record " + p);
                    }
                    index.insert(p.chunk(), p.from(), p.to(), p.slot());
                    epochs.raise(p.chunk(), p.to() + 1);
                    epoch = Math.max(epoch, p.to() + 1);
                }
                case JournalRecord.Touch t -> {
                    checkChunk(t.first(), t.count());
                    for (long c = t.first(); c < t.first() + t.count(); c++) {
                        epochs.raise(c, t.epoch());
                    }
                    epoch = Math.max(epoch, t.epoch());
                }
                case JournalRecord.Intent i -> {
                    checkChunk(i.first(), i.count());
                    intents.add(i);
                    epoch = Math.max(epoch, i.epoch());
                }
                case JournalRecord.RevertBegin b -> {
                    revertPending = b.id();
                    intents.clear(); // and a pending revert must see the epochs as they were written
                }
                case JournalRecord.RevertEnd e -> {
                    CheckpointFile.Shadow target = shadows.get(e.id());
                    if (target == null) {
                        throw new IllegalStateException("revert end names unknown shadow copy " + e.id());
                    }
                    applyRevertEnd(epochs, target.epoch(), e.newEpoch());
                    epoch = Math.max(epoch, e.newEpoch());
                    revertPending = null;
                    intents.clear();
                }
                case JournalRecord.TrackingReset t -> trackingSince = Math.max(trackingSince, t.epoch());
            }
        }

        /**
         * The writes an unresolved intent announced may have reached the backing file while their records did not
         * reach the journal. Counts them as written: each chunk of an unresolved intent's range is raised to the
         * intent's epoch unless a persistent copy sees its current content (then it was not written: such a write
         * preserves for that copy and syncs its record first). Copies that do not pin the chunk are unaffected:
         * older ones read preserved versions, non-persistent ones are released at open. Returns the raised runs,
         * which the caller makes durable as TOUCH records.
         */
        List<JournalRecord.Touch> resolveIntents(ShadowRegistry registry) {
            List<JournalRecord.Touch> raised = new ArrayList<>();
            for (JournalRecord.Intent i : intents) {
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

        private void checkChunk(long first, long count) {
            if (first < 0 || count < 1 || first + count > chunks) {
                throw new IllegalStateException("journal record names chunks " + first + ".." + (first + count - 1)
                        + " of a volume with " + chunks + " chunks");
            }
        }
    }
}
