package dev.shadowcopy.provider.row;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.provider.store.CorruptMetadataException;
import dev.shadowcopy.provider.store.EpochEngine;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.JournalRecord;
import dev.shadowcopy.provider.store.Releases;
import dev.shadowcopy.provider.store.Replay;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.SlotStore;
import java.io.IOException;
import java.util.List;

/**
 * Opens a redirect-on-write volume: checkpoint, then the journal generations after it ({@link Replay}'s rules),
 * applied with the same {@link RowState} rules the engine uses; after the last record, versions no surviving copy
 * needs are dropped, and slot usage is rebuilt from the live locations and the versions. A slot claimed later
 * replaces an earlier owner (the engine reuses a slot only after the record freeing it is durable).
 */
public final class RowRecovery {
    private RowRecovery() {}

    public static RowEngine open(EngineFiles files, EngineOptions options, VolumeEvents events) throws IOException {
        long chunks = (files.size() + files.chunkSize() - 1) / files.chunkSize();
        RowCheckpoint.Image cp = RowCheckpoint.read(files.storage(), files.metaDir(), files.volumeId(), chunks);
        RowReplay st = new RowReplay(chunks, cp, files.volumeName());
        Journal<JournalRecord> journal = st.replayJournal(files, LiveRecord.CODEC, new Journal.ReplayStats());
        ShadowRegistry registry = st.registry();
        st.state.versions.removeIf((c, from, to, slot) -> !registry.anyLiveIn(from, to + 1));
        SlotStore slots = Replay.shadowStorage(files, options, journal, st.state.versions);
        st.state.forEachLiveSlot(slots::markUsed);
        slots.opened();

        RowEngine engine = new RowEngine(files, st.state, new EpochEngine.Recovered(st.state.liveEpoch,
                st.state.versions, slots, registry, journal, st.epoch(), st.trackingSince()), options, events);
        try {
            engine.opened();
        } catch (IOException | RuntimeException e) {
            engine.closeAbruptly();
            throw e;
        }
        return engine;
    }

    /** The redirect-on-write state being rebuilt. */
    private static final class RowReplay extends Replay {
        final RowState state;
        final String volume;

        RowReplay(long chunks, RowCheckpoint.Image cp, String volume) {
            super(chunks, cp == null ? null : cp.header(), cp == null ? List.of() : cp.shadows());
            this.state = cp == null ? new RowState(chunks) : cp.state();
            this.volume = volume;
        }

        @Override
        protected void touch(long c, int epoch) {
            state.applyTouch(c, epoch);
        }

        @Override
        protected void applyOwn(JournalRecord r) {
            LiveRecord l = (LiveRecord) r;
            checkChunks(l.chunk(), 1);
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

        @Override
        protected void reverted(int target, int newEpoch) {
            try {
                state.applyRevert(target, newEpoch, volume);
            } catch (CorruptMetadataException e) {
                throw new IllegalStateException(e.getMessage());
            }
            // As the engine does right after a revert: the copies live at this point are exactly the surviving ones
            // (a revert runs with no creation under way, after deleting later copies).
            int[] live = shadows.values().stream().mapToInt(CheckpointFile.Shadow::epoch).sorted().toArray();
            state.versions.removeIf((c, from, to, slot) -> !Releases.anyIn(live, from, to + 1));
        }
    }
}
