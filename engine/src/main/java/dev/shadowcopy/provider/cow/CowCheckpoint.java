package dev.shadowcopy.provider.cow;

import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.VersionIndex;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

/**
 * A complete image of a copy-on-write volume's metadata at one moment, so that the journal before it can be
 * deleted and open does not replay history. Frame and sections as in {@link CheckpointFile}, magic
 * {@code "SCCHKPT1"} ({@link Formats#COW_CHECKPOINT_MAGIC}); the body is:
 *
 * <pre>
 *   8  backing file mtime in ns at the checkpoint (-1 = not recorded)
 *      shadows section
 *      runs section: each chunk's written epoch
 *      versions section: preserved chunks (location = slot, or -1 for zeros)
 *      uuid? section: the copy an unfinished revert is restoring
 * </pre>
 */
final class CowCheckpoint {
    private CowCheckpoint() {}

    /** The state a checkpoint holds. */
    record State(CheckpointFile.Header header, long backingMtime, List<CheckpointFile.Shadow> shadows,
                 ChunkEpochs epochs, VersionIndex index, UUID revertPending) {}

    static void write(Storage storage, Path dir, UUID volume, State s) throws IOException {
        new CheckpointFile.Writer().putLong(s.backingMtime()).shadows(s.shadows()).runs(s.epochs())
                .versions(s.index()).uuidOrNull(s.revertPending())
                .publish(storage, dir, Formats.COW_CHECKPOINT_MAGIC, volume, s.header());
    }

    /** Reads the checkpoint, or returns null if there is none. */
    static State read(Storage storage, Path dir, UUID volume, long chunks) throws IOException {
        CheckpointFile.Reader r = CheckpointFile.read(storage, dir, Formats.COW_CHECKPOINT_MAGIC, volume, chunks);
        if (r == null) {
            return null;
        }
        long mtime = r.getLong();
        List<CheckpointFile.Shadow> shadows = r.shadows();
        ChunkEpochs epochs = r.runs();
        VersionIndex index = r.versions(VersionIndex.ZERO);
        UUID revert = r.uuidOrNull();
        return new State(r.header(), mtime, shadows, epochs, index, revert);
    }
}
