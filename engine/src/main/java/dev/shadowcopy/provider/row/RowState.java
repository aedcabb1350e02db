package dev.shadowcopy.provider.row;

import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.CorruptMetadataException;
import dev.shadowcopy.provider.store.VersionIndex;
import java.util.ArrayList;
import java.util.List;

/**
 * Where every chunk's live version is and which old versions copies still need — the redirect-on-write
 * engine's metadata, with the one set of rules that both the running engine and replay apply, so that
 * replaying the journal rebuilds exactly what the engine had.
 *
 * <p>Thread-safety: arrays are read lock-free (acquire); mutations of one chunk are serialised by the
 * engine's stripe locks, and whole-volume changes (revert) run with all I/O held.
 */
final class RowState {
    final long chunks;
    /** Epoch each chunk's live version was written in. */
    final ChunkEpochs liveEpoch;
    /** Live location + 3 (0 = BASE, 2 = ZERO, slot + 3), so that an untouched chunk reads as "in the base". */
    private final ChunkEpochs liveLocation;
    final VersionIndex versions;

    RowState(long chunks) {
        this(new ChunkEpochs(chunks), new ChunkEpochs(chunks), new VersionIndex(chunks));
    }

    RowState(ChunkEpochs liveEpoch, ChunkEpochs liveLocation, VersionIndex versions) {
        this.chunks = liveEpoch.chunks();
        this.liveEpoch = liveEpoch;
        this.liveLocation = liveLocation;
        this.versions = versions;
    }

    int location(long chunk) {
        return liveLocation.get(chunk) - 3;
    }

    /**
     * Applies a LIVE change (idempotent: the kept version's location is explicit). Returns the slot that stopped
     * being referenced (to free once the change is durable), or -1.
     */
    int applyLive(long chunk, int epoch, int location, int keepFrom, int keepTo, int keepLocation, boolean widen)
            throws CorruptMetadataException {
        int previous = location(chunk);
        int freed = -1;
        if (location >= 0) {
            versions.releaseSlot(location); // a slot is reused only after its earlier owner was freed
        }
        if (keepTo >= 0) {
            if (widen) {
                // After a revert the live version is already a copy's version: widen that record (the copies the
                // revert deleted were the only ones in between) rather than give its slot a second owner.
                if (!versions.extend(chunk, keepFrom, keepLocation, keepTo)) {
                    throw new CorruptMetadataException("chunk " + chunk + ": no version from epoch " + keepFrom
                            + " at location " + keepLocation + " to widen");
                }
            } else {
                versions.insert(chunk, keepFrom, keepTo, keepLocation);
            }
        } else if (previous >= 0 && previous != location && !versions.references(chunk, previous)) {
            freed = previous; // (after a revert the live slot may also be a copy's version: then it stays)
        }
        // publish the version before the live location changes (readers validate against it)
        liveLocation.set(chunk, location + 3);
        // A chunk's epoch only grows (a revert sets a newer one). A merge's LIVE record carries the epoch the chunk
        // had when it was merged and waits in the commit queue, while a TOUCH of a later in-place write goes to the
        // journal at once: replay may meet the TOUCH first, and must not take the chunk's epoch back.
        if (epoch > liveEpoch.get(chunk)) {
            liveEpoch.set(chunk, epoch);
        }
        return freed;
    }

    /** Applies a TOUCH: the live version, in place, now belongs to {@code epoch}. */
    void applyTouch(long chunk, int epoch) {
        liveEpoch.set(chunk, epoch);
    }

    /**
     * Applies a revert to the copy of epoch {@code target}: every chunk written after it takes back the version
     * the copy sees — in place: the live location points at that version, which stays recorded for the copy —
     * and belongs to {@code newEpoch}, so that change tracking reports it as changed since any later copy.
     * Returns the slots of the live versions it replaced (free once the revert is durable).
     */
    int[] applyRevert(int target, int newEpoch, String volume) throws CorruptMetadataException {
        List<long[]> runs = new ArrayList<>();
        liveEpoch.forEachRun((first, count, e) -> {
            if (e > target) {
                runs.add(new long[] {first, count});
            }
        });
        int[] freed = new int[16];
        int n = 0;
        for (long[] run : runs) {
            for (long c = run[0]; c < run[0] + run[1]; c++) {
                int location = versions.find(c, target);
                if (location == VersionIndex.NOT_FOUND) {
                    throw new CorruptMetadataException("volume " + volume + ": chunk " + c + " has no version for the "
                            + "shadow copy with sequence " + target);
                }
                int previous = location(c);
                liveLocation.set(c, location + 3);
                liveEpoch.set(c, newEpoch);
                if (previous >= 0 && previous != location && !versions.references(c, previous)) {
                    if (n == freed.length) {
                        freed = java.util.Arrays.copyOf(freed, n * 2);
                    }
                    freed[n++] = previous;
                }
            }
        }
        return java.util.Arrays.copyOf(freed, n);
    }

    /**
     * The {@code from} of the version a live copy needs that shares chunk {@code c}'s live location (after a
     * revert), or -1. {@code needed} tells whether a range is needed by a live copy.
     */
    int sharedVersionFrom(long c, VersionIndex.RecordPredicate needed) {
        int loc = location(c);
        return loc == VersionIndex.ZERO ? -1 : versions.findAt(c, loc, needed);
    }

    /** True when writing chunk {@code c} in place would change a version a copy keeps (after a revert). */
    boolean sharedWithVersion(long c) {
        int loc = location(c);
        return loc != VersionIndex.ZERO && versions.references(c, loc);
    }

    /** Every slot referenced by a live location, for rebuilding the slot store's usage at open. */
    void forEachLiveSlot(java.util.function.IntConsumer consumer) {
        liveLocation.forEachRun((first, count, stored) -> {
            if (stored - 3 >= 0) {
                for (long c = first; c < first + count; c++) {
                    consumer.accept(liveLocation.get(c) - 3);
                }
            }
        });
    }

    /** Copies for a checkpoint. */
    RowState copy() {
        return new RowState(liveEpoch.copy(), liveLocation.copy(), versions.copy(chunks));
    }

    ChunkEpochs encodedLocations() {
        return liveLocation;
    }
}
