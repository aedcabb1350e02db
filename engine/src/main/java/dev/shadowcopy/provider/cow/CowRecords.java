package dev.shadowcopy.provider.cow;

import static dev.shadowcopy.provider.store.JournalFraming.INT;
import static dev.shadowcopy.provider.store.JournalFraming.LONG;

import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.provider.store.JournalFraming;
import dev.shadowcopy.provider.store.RecordCodec;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The copy-on-write engine's journal records (kind 1), framed by {@link JournalFraming}. Little-endian:
 *
 * <pre>
 * type payload
 *   1  SHADOW_CREATE  uuid(16) epoch(4) createdMillis(8) flags(4; bit 0 = persistent)
 *   2  SHADOW_DELETE  uuid(16)
 *   3  PRESERVE       chunk(8) from(4) to(4) slot(4; -1 = zero content)
 *   4  TOUCH          firstChunk(8) count(4) epoch(4)
 *   5  REVERT_BEGIN   uuid(16)
 *   6  REVERT_END     uuid(16) newEpoch(4)
 *   7  TRACKING_RESET epoch(4)
 *   8  INTENT         firstChunk(8) count(4) epoch(4)
 * </pre>
 * A payload of the wrong length for its type, or an unknown type, is not a record (end of log).
 */
final class CowRecords implements RecordCodec<JournalRecord> {
    static final CowRecords CODEC = new CowRecords();
    static final int KIND = Formats.JOURNAL_KIND_COPY_ON_WRITE;

    static final byte SHADOW_CREATE = 1;
    static final byte SHADOW_DELETE = 2;
    static final byte PRESERVE = 3;
    static final byte TOUCH = 4;
    static final byte REVERT_BEGIN = 5;
    static final byte REVERT_END = 6;
    static final byte TRACKING_RESET = 7;
    static final byte INTENT = 8;

    private CowRecords() {}

    @Override
    public int kind() {
        return KIND;
    }

    @Override
    public int size(JournalRecord r) {
        return 1 + switch (r) {
            case JournalRecord.ShadowCreate c -> 32;
            case JournalRecord.ShadowDelete d -> 16;
            case JournalRecord.Preserve p -> 20;
            case JournalRecord.Touch t -> 16;
            case JournalRecord.Intent i -> 16;
            case JournalRecord.RevertBegin b -> 16;
            case JournalRecord.RevertEnd e -> 20;
            case JournalRecord.TrackingReset t -> 4;
        };
    }

    @Override
    public void encode(MemorySegment seg, long off, JournalRecord r) {
        long p = off + 1;
        switch (r) {
            case JournalRecord.ShadowCreate c -> {
                seg.set(ValueLayout.JAVA_BYTE, off, SHADOW_CREATE);
                p = JournalFraming.putUuid(seg, p, c.id());
                seg.set(INT, p, c.epoch());
                seg.set(LONG, p + 4, c.createdMillis());
                seg.set(INT, p + 12, c.persistent() ? 1 : 0);
            }
            case JournalRecord.ShadowDelete d -> {
                seg.set(ValueLayout.JAVA_BYTE, off, SHADOW_DELETE);
                JournalFraming.putUuid(seg, p, d.id());
            }
            case JournalRecord.Preserve pr -> {
                seg.set(ValueLayout.JAVA_BYTE, off, PRESERVE);
                seg.set(LONG, p, pr.chunk());
                seg.set(INT, p + 8, pr.from());
                seg.set(INT, p + 12, pr.to());
                seg.set(INT, p + 16, pr.slot());
            }
            case JournalRecord.Touch t -> {
                seg.set(ValueLayout.JAVA_BYTE, off, TOUCH);
                seg.set(LONG, p, t.first());
                seg.set(INT, p + 8, t.count());
                seg.set(INT, p + 12, t.epoch());
            }
            case JournalRecord.Intent i -> {
                seg.set(ValueLayout.JAVA_BYTE, off, INTENT);
                seg.set(LONG, p, i.first());
                seg.set(INT, p + 8, i.count());
                seg.set(INT, p + 12, i.epoch());
            }
            case JournalRecord.RevertBegin b -> {
                seg.set(ValueLayout.JAVA_BYTE, off, REVERT_BEGIN);
                JournalFraming.putUuid(seg, p, b.id());
            }
            case JournalRecord.RevertEnd e -> {
                seg.set(ValueLayout.JAVA_BYTE, off, REVERT_END);
                p = JournalFraming.putUuid(seg, p, e.id());
                seg.set(INT, p, e.newEpoch());
            }
            case JournalRecord.TrackingReset t -> {
                seg.set(ValueLayout.JAVA_BYTE, off, TRACKING_RESET);
                seg.set(INT, p, t.epoch());
            }
        }
    }

    @Override
    public JournalRecord decode(MemorySegment seg, long off, int n) {
        byte type = seg.get(ValueLayout.JAVA_BYTE, off);
        long p = off + 1;
        int payload = n - 1;
        return switch (type) {
            case SHADOW_CREATE -> payload != 32 ? null : new JournalRecord.ShadowCreate(JournalFraming.getUuid(seg, p),
                    seg.get(INT, p + 16), seg.get(LONG, p + 20), (seg.get(INT, p + 28) & 1) != 0);
            case SHADOW_DELETE -> payload != 16 ? null : new JournalRecord.ShadowDelete(JournalFraming.getUuid(seg, p));
            case PRESERVE -> payload != 20 ? null : new JournalRecord.Preserve(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12), seg.get(INT, p + 16));
            case TOUCH -> payload != 16 ? null : new JournalRecord.Touch(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12));
            case INTENT -> payload != 16 ? null : new JournalRecord.Intent(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12));
            case REVERT_BEGIN -> payload != 16 ? null : new JournalRecord.RevertBegin(JournalFraming.getUuid(seg, p));
            case REVERT_END -> payload != 20 ? null : new JournalRecord.RevertEnd(JournalFraming.getUuid(seg, p),
                    seg.get(INT, p + 16));
            case TRACKING_RESET -> payload != 4 ? null : new JournalRecord.TrackingReset(seg.get(INT, p));
            default -> null;
        };
    }
}
