package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The state an epoch engine's open rebuilds: the checkpoint's, then every journal generation after it applied in
 * order. This class applies the {@link JournalRecord.Shared} records and walks the generations; a subclass applies its
 * engine's own records.
 *
 * <p>Rules every engine's replay keeps: records are idempotent; nothing is freed during replay (a copy's creation
 * record is written after what was kept for it, so an early free would drop what a later record needs); only the last
 * generation may end torn (it is cut off and zeroed); nothing is guessed — a missing generation, a generation that
 * does not continue the checkpoint, or a record naming chunks outside the volume stops the open with an error naming
 * the file.
 */
public abstract class Replay {
    protected final long chunks;
    /** Copies committed so far, by id, in creation order. */
    protected final Map<UUID, CheckpointFile.Shadow> shadows = new LinkedHashMap<>();
    protected long nextGeneration;
    protected int epoch;
    protected int trackingSince;

    /** From a checkpoint's header and copies, or (header null) from nothing: a new volume. */
    protected Replay(long chunks, CheckpointFile.Header header, List<CheckpointFile.Shadow> copies) {
        this.chunks = chunks;
        this.nextGeneration = header == null ? 1 : header.nextGeneration();
        this.epoch = header == null ? 0 : header.epoch();
        this.trackingSince = header == null ? 0 : header.trackingSince();
        for (CheckpointFile.Shadow s : copies) {
            shadows.put(s.id(), s);
        }
    }

    public final int epoch() {
        return epoch;
    }

    public final int trackingSince() {
        return trackingSince;
    }

    /** Applies one record. */
    public final void apply(JournalRecord r) {
        switch (r) {
            case JournalRecord.ShadowCreate c -> {
                shadows.put(c.id(), new CheckpointFile.Shadow(c.id(), c.epoch(), c.createdMillis(), c.persistent()));
                epoch = Math.max(epoch, c.epoch() + 1);
                created();
            }
            case JournalRecord.ShadowDelete d -> shadows.remove(d.id());
            case JournalRecord.Touch t -> {
                checkChunks(t.first(), t.count());
                for (long c = t.first(); c < t.first() + t.count(); c++) {
                    touch(c, t.epoch());
                }
                epoch = Math.max(epoch, t.epoch());
            }
            case JournalRecord.TrackingReset t -> trackingSince = Math.max(trackingSince, t.epoch());
            case JournalRecord.Reverted v -> {
                CheckpointFile.Shadow target = shadows.get(v.id());
                if (target == null) {
                    throw new IllegalStateException("revert names unknown shadow copy " + v.id());
                }
                reverted(target.epoch(), v.newEpoch());
                epoch = Math.max(epoch, v.newEpoch());
            }
            default -> applyOwn(r);
        }
    }

    /** A copy's creation record was replayed (after it, no write of an earlier epoch is journalled). */
    protected void created() {}

    /** A completed revert to the copy of epoch {@code target}; the volume continues in {@code newEpoch}. */
    protected abstract void reverted(int target, int newEpoch);

    /** A TOUCH: chunk {@code c}'s live version belongs to {@code epoch}. */
    protected abstract void touch(long c, int epoch);

    /** One of the engine's own records; throws IllegalStateException for an impossible one. */
    protected abstract void applyOwn(JournalRecord r);

    protected final void checkChunks(long first, long count) {
        if (first < 0 || count < 1 || first + count > chunks) {
            throw new IllegalStateException("journal record names chunks " + first + ".." + (first + count - 1)
                    + " of a volume with " + chunks + " chunks");
        }
    }

    /**
     * Opens shadow storage and marks the slots the recorded versions use (the caller marks any others, then calls
     * {@link SlotStore#opened}); closes {@code journal} if that fails, so that a failed open leaks nothing.
     */
    public static SlotStore shadowStorage(EngineFiles files, EngineOptions options, Journal<JournalRecord> journal,
                                             VersionIndex versions) throws IOException {
        SlotStore slots;
        try {
            slots = SlotStore.open(files, options);
        } catch (IOException | RuntimeException e) {
            journal.close();
            throw e;
        }
        versions.forEach((id, c, from, to, slot) -> {
            if (slot >= 0) {
                slots.markUsed(slot);
            }
        });
        return slots;
    }

    /** The copies as the registry an engine starts with. */
    public final ShadowRegistry registry() {
        ShadowRegistry registry = new ShadowRegistry();
        for (CheckpointFile.Shadow s : shadows.values()) {
            registry.add(s.id(), s.epoch(), s.createdMillis(), s.persistent(), Phase.COMMITTED);
        }
        return registry;
    }

    /**
     * Replays every journal generation after the checkpoint into this state (deleting generations the checkpoint made
     * obsolete) and returns the last one reopened for appending, or a new empty one.
     */
    public final Journal<JournalRecord> replayJournal(EngineFiles files, JournalCodec codec, Journal.ReplayStats stats)
            throws IOException {
        List<Long> generations = new ArrayList<>();
        for (String name : files.storage().list(files.metaDir())) {
            long g = Journal.generationOf(name);
            if (g >= 0) {
                if (g < nextGeneration) {
                    files.storage().delete(files.metaDir().resolve(name)); // obsolete since the checkpoint
                } else {
                    generations.add(g);
                }
            }
        }
        generations.sort(Long::compare);
        Journal<JournalRecord> journal = null;
        try {
            for (int i = 0; i < generations.size(); i++) {
                long g = generations.get(i);
                if (i > 0 && g != generations.get(i - 1) + 1) {
                    throw new CorruptMetadataException(files.metaDir() + ": journal generation "
                            + (generations.get(i - 1) + 1) + " is missing between " + generations.get(i - 1) + " and "
                            + g);
                }
                if (journal != null) {
                    journal.close();
                }
                try {
                    journal = Journal.replay(files.storage(), files.metaDir(), files.volumeId(), g, codec, this::apply,
                            stats);
                } catch (IllegalStateException bad) {
                    throw new CorruptMetadataException(files.metaDir().resolve(Journal.fileName(g)) + ": "
                            + bad.getMessage());
                }
            }
            if (!generations.isEmpty() && generations.getFirst() != nextGeneration) {
                throw new CorruptMetadataException(files.metaDir() + ": the checkpoint continues at journal generation "
                        + nextGeneration + " but the first one present is " + generations.getFirst());
            }
            if (journal == null) {
                journal = Journal.create(files.storage(), files.metaDir(), files.volumeId(), nextGeneration, codec);
            }
            return journal;
        } catch (IOException | RuntimeException e) {
            if (journal != null) {
                journal.close();
            }
            throw e;
        }
    }
}
