package dev.shadowcopy.provider.row;

import java.util.UUID;

/**
 * One change to a redirect-on-write volume's metadata; replayed in order, each idempotent. Byte layout in
 * {@link RowRecords}.
 */
sealed interface RowRecord {

    /** A shadow copy exists: it sees the versions written up to the end of {@code epoch}. */
    record ShadowCreate(UUID id, int epoch, long createdMillis, boolean persistent) implements RowRecord {}

    /** A shadow copy is gone. */
    record ShadowDelete(UUID id) implements RowRecord {}

    /**
     * Chunk {@code chunk}'s live version is now at {@code location} (a slot, {@code VersionIndex.BASE} or
     * {@code VersionIndex.ZERO}) and belongs to epoch {@code epoch}. If {@code keepTo >= 0}, the previous live
     * version stays where it was — at {@code keepLocation}, named explicitly so that replaying the record twice
     * changes nothing — as the version of epochs {@code keepFrom..keepTo}; with {@code widen}, that version is
     * already recorded (after a revert, from {@code keepFrom} at {@code keepLocation}) and its range is widened to
     * end at {@code keepTo}. Without {@code keepTo >= 0}, a previous live slot other than {@code location} is free.
     */
    record Live(long chunk, int epoch, int location, int keepFrom, int keepTo, int keepLocation, boolean widen)
            implements RowRecord {}

    /** Chunks {@code first .. first + count - 1} were written in place in {@code epoch} (change tracking). */
    record Touch(long first, int count, int epoch) implements RowRecord {}

    /**
     * The live volume became shadow copy {@code id}: every chunk written after it takes back the version the
     * copy sees; those later versions are free; the volume continues in {@code newEpoch}.
     */
    record Revert(UUID id, int newEpoch) implements RowRecord {}

    /** Writes before {@code epoch} are no longer tracked. */
    record TrackingReset(int epoch) implements RowRecord {}
}
