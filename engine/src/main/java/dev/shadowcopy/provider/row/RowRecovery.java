package dev.shadowcopy.provider.row;

import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.provider.store.CorruptMetadataException;
import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.Maintenance;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import dev.shadowcopy.provider.store.SlotStore;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.device.VolumeEvents;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Opens a redirect-on-write volume: checkpoint, then the journal generations after it in order, applied with
 * the same {@link RowState} rules the engine uses; after the last record, versions no surviving copy needs
 * are dropped, and slot usage is rebuilt from the live locations and the versions. Records are never freed
 * during replay (a copy's creation record follows the versions kept for it); a slot claimed later replaces
 * an earlier owner (the engine reuses a slot only after the record freeing it is durable).
 */
public final class RowRecovery {
    private RowRecovery() {}

    record Recovered(RowState state, SlotStore slots, ShadowRegistry registry, Journal<RowRecord> journal, int epoch,
                     int trackingSince) {}

    public static RowEngine open(EngineFiles files, EngineOptions options, VolumeEvents events) throws IOException {
        long chunks = (files.size() + files.chunkSize() - 1) / files.chunkSize();
        RowCheckpoint.Image cp = RowCheckpoint.read(files.storage(), files.metaDir(), files.volumeId(), chunks);
        Replay st = cp == null ? new Replay(new RowState(chunks), 1, 0, 0, List.of())
                : new Replay(cp.state(), cp.header().nextGeneration(), cp.header().epoch(),
                        cp.header().trackingSince(), cp.shadows());
        st.volume = files.volumeName();

        List<Long> generations = new ArrayList<>();
        for (String name : files.storage().list(files.metaDir())) {
            long g = Journal.generationOf(name);
            if (g >= 0) {
                if (g < st.nextGeneration) {
                    files.storage().delete(files.metaDir().resolve(name));
                } else {
                    generations.add(g);
                }
            }
        }
        generations.sort(Long::compare);
        Journal<RowRecord> journal = null;
        try {
            for (int i = 0; i < generations.size(); i++) {
                long g = generations.get(i);
                if (i > 0 && g != generations.get(i - 1) + 1) {
                    throw new CorruptMetadataException(files.metaDir() + ": journal generation "
                            + (generations.get(i - 1) + 1) + " is missing");
                }
                if (journal != null) {
                    journal.close();
                }
                try {
                    journal = Journal.replay(files.storage(), files.metaDir(), files.volumeId(), g, RowRecords.CODEC,
                            st::apply, new Journal.ReplayStats());
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
                        RowRecords.CODEC);
            }
        } catch (IOException | RuntimeException e) {
            if (journal != null) {
                journal.close();
            }
            throw e;
        }

        ShadowRegistry registry = new ShadowRegistry();
        for (CheckpointFile.Shadow s : st.shadows.values()) {
            registry.add(s.id(), s.epoch(), s.createdMillis(), s.persistent(), Phase.COMMITTED);
        }
        st.state.versions.removeIf((c, from, to, slot) -> !registry.anyLiveIn(from, to + 1));

        boolean newDiffFile = !files.storage().exists(files.diffPath());
        StorageFile diffFile = files.storage().open(files.diffPath(), OpenMode.CREATE);
        SlotStore slots;
        try {
            if (newDiffFile) {
                files.storage().syncDirectory(files.diffPath().getParent());
            }
            slots = new SlotStore(diffFile, files.chunkSize(), options.shadowStorageMaxBytes(),
                    options.prepareAheadBytes(), options.inlineMaintenance() ? null : Maintenance.EXECUTOR);
        } catch (IOException | RuntimeException e) {
            diffFile.close();
            journal.close();
            throw e;
        }
        st.state.versions.forEach((id, c, from, to, slot) -> {
            if (slot >= 0) {
                slots.markUsed(slot);
            }
        });
        st.state.forEachLiveSlot(slots::markUsed);
        slots.opened();

        RowEngine engine = new RowEngine(files, new Recovered(st.state, slots, registry, journal, st.epoch,
                st.trackingSince), events, options.maxShadowCopies(), options.checkpointBytes(), options.inlineMaintenance());
        for (ShadowRegistry.Shadow s : registry.inPhases(Phase.COMMITTED)) {
            if (!s.persistent) {
                var info = engine.info(s);
                if (engine.deleteShadowCopy(new ShadowCopyId(s.id), "non-persistent")) {
                    events.shadowCopyReleased(files.volumeName(), info,
                            "non-persistent shadow copy released when the volume was reopened");
                }
            }
        }
        engine.merger.schedule();
        return engine;
    }

    /** The state being rebuilt. */
    private static final class Replay {
        final RowState state;
        final Map<UUID, CheckpointFile.Shadow> shadows = new LinkedHashMap<>();
        long nextGeneration;
        int epoch;
        int trackingSince;
        String volume;

        Replay(RowState state, long nextGeneration, int epoch, int trackingSince, List<CheckpointFile.Shadow> list) {
            this.state = state;
            this.nextGeneration = nextGeneration;
            this.epoch = epoch;
            this.trackingSince = trackingSince;
            for (CheckpointFile.Shadow s : list) {
                shadows.put(s.id(), s);
            }
        }

        void apply(RowRecord r) {
            switch (r) {
                case RowRecord.ShadowCreate c -> {
                    shadows.put(c.id(), new CheckpointFile.Shadow(c.id(), c.epoch(), c.createdMillis(), c.persistent()));
                    epoch = Math.max(epoch, c.epoch() + 1);
                }
                case RowRecord.ShadowDelete d -> shadows.remove(d.id());
                case RowRecord.Live l -> {
                    check(l.chunk(), 1);
                    if (l.location() < -3 || l.location() == -2 || (l.keepTo() >= 0 && (l.keepFrom() > l.keepTo()
                            || l.keepLocation() < -3 || l.keepLocation() == -2))) {
                        throw new IllegalStateException("impossible LIVE record " + l);
                    }
                    try {
                        state.applyLive(l.chunk(), l.epoch(), l.location(), l.keepFrom(), l.keepTo(), l.keepLocation(),
                                l.widen());
                    } catch (CorruptMetadataException e) {
                        throw new IllegalStateException(e.getMessage());
                    }
                    epoch = Math.max(epoch, l.epoch());
                }
                case RowRecord.Touch t -> {
                    check(t.first(), t.count());
                    for (long c = t.first(); c < t.first() + t.count(); c++) {
                        state.applyTouch(c, t.epoch());
                    }
                    epoch = Math.max(epoch, t.epoch());
                }
                case RowRecord.Revert v -> {
                    CheckpointFile.Shadow target = shadows.get(v.id());
                    if (target == null) {
                        throw new IllegalStateException("revert names unknown shadow copy " + v.id());
                    }
                    try {
                        state.applyRevert(target.epoch(), v.newEpoch(), volume);
                    } catch (CorruptMetadataException e) {
                        throw new IllegalStateException(e.getMessage());
                    }
                    // As the engine does right after a revert: the copies live at this point are exactly the
                    // surviving ones (a revert runs with no creation under way, after deleting later copies).
                    int[] live = shadows.values().stream().mapToInt(CheckpointFile.Shadow::epoch).sorted().toArray();
                    state.versions.removeIf((c, from, to, slot) -> !anyIn(live, from, to + 1));
                    epoch = Math.max(epoch, v.newEpoch());
                }
                case RowRecord.TrackingReset t -> trackingSince = Math.max(trackingSince, t.epoch());
            }
        }

        private static boolean anyIn(int[] sorted, int from, int toExclusive) {
            int i = java.util.Arrays.binarySearch(sorted, from);
            if (i < 0) {
                i = -i - 1;
            }
            return i < sorted.length && sorted[i] < toExclusive;
        }

        private void check(long first, long count) {
            if (first < 0 || count < 1 || first + count > state.chunks) {
                throw new IllegalStateException("journal record names chunks " + first + ".." + (first + count - 1)
                        + " of a volume with " + state.chunks + " chunks");
            }
        }
    }
}
