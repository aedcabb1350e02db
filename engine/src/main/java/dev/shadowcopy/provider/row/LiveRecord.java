package dev.shadowcopy.provider.row;

import static dev.shadowcopy.provider.store.JournalFraming.INT;
import static dev.shadowcopy.provider.store.JournalFraming.LONG;

import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.provider.store.JournalCodec;
import dev.shadowcopy.provider.store.JournalFraming;
import dev.shadowcopy.provider.store.JournalRecord;
import java.lang.foreign.MemorySegment;

/**
 * The redirect-on-write engine's own journal record; the others (copy creation and deletion, TOUCH, tracking reset,
 * revert) are the shared {@link JournalRecord.Shared} ones. Chunk {@code chunk}'s live version is now at
 * {@code location} (a slot, {@code VersionIndex.BASE} or {@code VersionIndex.ZERO}) and belongs to epoch
 * {@code epoch}. If {@code keepTo >= 0}, the previous live version stays where it was — at {@code keepLocation}, named
 * explicitly so that replaying the record twice changes nothing — as the version of epochs {@code keepFrom..keepTo};
 * with {@code widen}, that version is already recorded (after a revert, from {@code keepFrom} at
 * {@code keepLocation}) and its range is widened to end at {@code keepTo}. Without {@code keepTo >= 0}, a previous
 * live slot other than {@code location} is free.
 *
 * <p>The journal is of kind {@link Formats#JOURNAL_KIND_REDIRECT_ON_WRITE}, framed by {@link JournalFraming}; type
 * bytes and payloads, little-endian:
 * <pre>
 * type payload
 *   1  SHADOW_CREATE  (shared: {@link JournalCodec})
 *   2  SHADOW_DELETE  (shared)
 *   3  LIVE           chunk(8) epoch(4) location(4) keepFrom(4) keepTo(4; -1 = previous version not kept)
 *                     keepLocation(4) flags(4; bit 0 = widen the recorded version instead of adding one)
 *   4  TOUCH          (shared)
 *   5  REVERT         (shared REVERTED)
 *   6  TRACKING_RESET (shared)
 * </pre>
 * Locations: a slot number (>= 0), -1 zeros, -3 the base (the origin file).
 */
record LiveRecord(long chunk, int epoch, int location, int keepFrom, int keepTo, int keepLocation, boolean widen)
        implements JournalRecord.Own {
    static final byte LIVE = 3;
    static final JournalCodec CODEC = new JournalCodec(Formats.JOURNAL_KIND_REDIRECT_ON_WRITE, 1, 2, 4, 6, 5,
            LiveRecord::decode);

    @Override
    public byte type() {
        return LIVE;
    }

    @Override
    public int payloadSize() {
        return 32;
    }

    @Override
    public void encode(MemorySegment seg, long p) {
        JournalCodec.putChunkAndInts(seg, p, chunk, epoch, location);
        seg.set(INT, p + 16, keepFrom);
        seg.set(INT, p + 20, keepTo);
        seg.set(INT, p + 24, keepLocation);
        seg.set(INT, p + 28, widen ? 1 : 0);
    }

    /** Reads a LIVE record back, or null when it is none. */
    static LiveRecord decode(byte type, MemorySegment seg, long p, int payload) {
        if (type != LIVE || payload != 32) {
            return null;
        }
        return new LiveRecord(seg.get(LONG, p), seg.get(INT, p + 8), seg.get(INT, p + 12), seg.get(INT, p + 16),
                seg.get(INT, p + 20), seg.get(INT, p + 24), (seg.get(INT, p + 28) & 1) != 0);
    }
}
