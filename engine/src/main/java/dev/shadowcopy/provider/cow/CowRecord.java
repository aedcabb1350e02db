package dev.shadowcopy.provider.cow;

import static dev.shadowcopy.provider.store.JournalFraming.INT;
import static dev.shadowcopy.provider.store.JournalFraming.LONG;

import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.provider.store.JournalCodec;
import dev.shadowcopy.provider.store.JournalFraming;
import dev.shadowcopy.provider.store.JournalRecord;
import dev.shadowcopy.provider.store.VersionIndex;
import java.lang.foreign.MemorySegment;
import java.util.UUID;

/**
 * The copy-on-write engine's own journal records; the shared ones (copy creation and deletion, TOUCH, tracking
 * reset, the end of a revert) are {@link JournalRecord.Shared}. Idempotent when replayed in order. The journal is of
 * kind {@link Formats#JOURNAL_KIND_COPY_ON_WRITE}, framed by {@link JournalFraming}; type bytes and payloads,
 * little-endian:
 *
 * <pre>
 * type payload
 *   1  SHADOW_CREATE  (shared: {@link JournalCodec})
 *   2  SHADOW_DELETE  (shared)
 *   3  PRESERVE       chunk(8) from(4) to(4) slot(4; -1 = zero content)
 *   4  TOUCH          (shared)
 *   5  REVERT_BEGIN   uuid(16)
 *   6  REVERT_END     (shared REVERTED: the revert is complete)
 *   7  TRACKING_RESET (shared)
 *   8  INTENT         firstChunk(8) count(4) epoch(4)
 * </pre>
 */
sealed interface CowRecord extends JournalRecord.Own {
    byte PRESERVE = 3;
    byte REVERT_BEGIN = 5;
    byte INTENT = 8;

    JournalCodec CODEC = new JournalCodec(Formats.JOURNAL_KIND_COPY_ON_WRITE, 1, 2, 4, 7, 6, CowRecord::decode);

    @Override
    default byte type() {
        return switch (this) {
            case Preserve p -> PRESERVE;
            case Intent i -> INTENT;
            case RevertBegin b -> REVERT_BEGIN;
        };
    }

    @Override
    default int payloadSize() {
        return this instanceof Preserve ? 20 : 16;
    }

    /**
     * Chunk {@code chunk}'s content written in epoch {@code from} was preserved in {@code slot}
     * ({@link VersionIndex#ZERO}: it was zeros) and serves copies of epochs {@code from..to}; the chunk's
     * live content belongs to epoch {@code to + 1} from now on.
     */
    record Preserve(long chunk, int from, int to, int slot) implements CowRecord {
        @Override
        public void encode(MemorySegment seg, long p) {
            JournalCodec.putChunkAndInts(seg, p, chunk, from, to);
            seg.set(INT, p + 16, slot);
        }
    }

    /**
     * Chunks {@code first .. first + count - 1} may be written in {@code epoch} before the records saying so
     * are durable. Durable before such a write; after a crash, recovery counts every chunk of the range that
     * no persistent copy pins as written in {@code epoch} (change tracking may over-report, never miss).
     */
    record Intent(long first, int count, int epoch) implements CowRecord {
        @Override
        public void encode(MemorySegment seg, long p) {
            JournalCodec.putChunkAndInts(seg, p, first, count, epoch);
        }
    }

    /**
     * A revert of the live volume to shadow copy {@code id} has started; it is redone at open if unfinished (its end
     * is the shared {@link JournalRecord.Reverted}).
     */
    record RevertBegin(UUID id) implements CowRecord {
        @Override
        public void encode(MemorySegment seg, long p) {
            JournalFraming.putUuid(seg, p, id);
        }
    }

    /** Reads one of these records back, or null when the payload does not fit its type. */
    static CowRecord decode(byte type, MemorySegment seg, long p, int payload) {
        return switch (type) {
            case PRESERVE -> payload != 20 ? null : new Preserve(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12), seg.get(INT, p + 16));
            case INTENT -> payload != 16 ? null : new Intent(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12));
            case REVERT_BEGIN -> payload != 16 ? null : new RevertBegin(JournalFraming.getUuid(seg, p));
            default -> null;
        };
    }
}
