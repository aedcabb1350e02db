package dev.shadowcopy.provider.cow;

import dev.shadowcopy.provider.store.VersionIndex;
import java.util.UUID;

/**
 * One change to a volume's copy-on-write metadata. Every record is idempotent when replayed in order
 * ("set" semantics), so that replaying a journal on top of a checkpoint that already holds some of its
 * effects gives the same state. The byte layout is in {@link CowRecords}.
 */
sealed interface JournalRecord {

    /** A shadow copy exists: it sees the content written up to the end of {@code epoch}. */
    record ShadowCreate(UUID id, int epoch, long createdMillis, boolean persistent) implements JournalRecord {}

    /** A shadow copy is gone; records only it needed are free from here on. */
    record ShadowDelete(UUID id) implements JournalRecord {}

    /**
     * Chunk {@code chunk}'s content written in epoch {@code from} was preserved in {@code slot}
     * ({@link VersionIndex#ZERO}: it was zeros) and serves copies of epochs {@code from..to}; the chunk's
     * live content belongs to epoch {@code to + 1} from now on.
     */
    record Preserve(long chunk, int from, int to, int slot) implements JournalRecord {}

    /** Chunks {@code first .. first + count - 1} were written in {@code epoch} (change tracking). */
    record Touch(long first, int count, int epoch) implements JournalRecord {}

    /**
     * Chunks {@code first .. first + count - 1} may be written in {@code epoch} before the records saying so
     * are durable. Durable before such a write; after a crash, recovery counts every chunk of the range that
     * no persistent copy pins as written in {@code epoch} (change tracking may over-report, never miss).
     */
    record Intent(long first, int count, int epoch) implements JournalRecord {}

    /** A revert of the live volume to shadow copy {@code id} has started; it is redone at open if unfinished. */
    record RevertBegin(UUID id) implements JournalRecord {}

    /**
     * The revert to {@code id} is complete: every chunk written after that copy now holds its content and
     * belongs to {@code newEpoch}.
     */
    record RevertEnd(UUID id, int newEpoch) implements JournalRecord {}

    /** Writes before {@code epoch} are no longer tracked (tracking was suspended or cannot be trusted). */
    record TrackingReset(int epoch) implements JournalRecord {}
}
