package dev.shadowcopy.provider.row;

import static dev.shadowcopy.provider.store.JournalFraming.INT;
import static dev.shadowcopy.provider.store.JournalFraming.LONG;

import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.provider.store.JournalFraming;
import dev.shadowcopy.provider.store.RecordCodec;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The redirect-on-write engine's journal records (kind 2), framed by {@link JournalFraming}. Little-endian:
 *
 * <pre>
 * type payload
 *   1  SHADOW_CREATE  uuid(16) epoch(4) createdMillis(8) flags(4; bit 0 = persistent)
 *   2  SHADOW_DELETE  uuid(16)
 *   3  LIVE           chunk(8) epoch(4) location(4) keepFrom(4) keepTo(4; -1 = previous version not kept)
 *                     keepLocation(4) flags(4; bit 0 = widen the recorded version instead of adding one)
 *   4  TOUCH          firstChunk(8) count(4) epoch(4)
 *   5  REVERT         uuid(16) newEpoch(4)
 *   6  TRACKING_RESET epoch(4)
 * </pre>
 * Locations: a slot number (>= 0), -1 zeros, -3 the base file.
 */
final class RowRecords implements RecordCodec<RowRecord> {
    static final RowRecords CODEC = new RowRecords();
    static final int KIND = Formats.JOURNAL_KIND_REDIRECT_ON_WRITE;

    private static final byte SHADOW_CREATE = 1;
    private static final byte SHADOW_DELETE = 2;
    private static final byte LIVE = 3;
    private static final byte TOUCH = 4;
    private static final byte REVERT = 5;
    private static final byte TRACKING_RESET = 6;

    private RowRecords() {}

    @Override
    public int kind() {
        return KIND;
    }

    @Override
    public int size(RowRecord r) {
        return 1 + switch (r) {
            case RowRecord.ShadowCreate c -> 32;
            case RowRecord.ShadowDelete d -> 16;
            case RowRecord.Live l -> 32;
            case RowRecord.Touch t -> 16;
            case RowRecord.Revert v -> 20;
            case RowRecord.TrackingReset t -> 4;
        };
    }

    @Override
    public void encode(MemorySegment seg, long off, RowRecord r) {
        long p = off + 1;
        switch (r) {
            case RowRecord.ShadowCreate c -> {
                seg.set(ValueLayout.JAVA_BYTE, off, SHADOW_CREATE);
                p = JournalFraming.putUuid(seg, p, c.id());
                seg.set(INT, p, c.epoch());
                seg.set(LONG, p + 4, c.createdMillis());
                seg.set(INT, p + 12, c.persistent() ? 1 : 0);
            }
            case RowRecord.ShadowDelete d -> {
                seg.set(ValueLayout.JAVA_BYTE, off, SHADOW_DELETE);
                JournalFraming.putUuid(seg, p, d.id());
            }
            case RowRecord.Live l -> {
                seg.set(ValueLayout.JAVA_BYTE, off, LIVE);
                seg.set(LONG, p, l.chunk());
                seg.set(INT, p + 8, l.epoch());
                seg.set(INT, p + 12, l.location());
                seg.set(INT, p + 16, l.keepFrom());
                seg.set(INT, p + 20, l.keepTo());
                seg.set(INT, p + 24, l.keepLocation());
                seg.set(INT, p + 28, l.widen() ? 1 : 0);
            }
            case RowRecord.Touch t -> {
                seg.set(ValueLayout.JAVA_BYTE, off, TOUCH);
                seg.set(LONG, p, t.first());
                seg.set(INT, p + 8, t.count());
                seg.set(INT, p + 12, t.epoch());
            }
            case RowRecord.Revert v -> {
                seg.set(ValueLayout.JAVA_BYTE, off, REVERT);
                p = JournalFraming.putUuid(seg, p, v.id());
                seg.set(INT, p, v.newEpoch());
            }
            case RowRecord.TrackingReset t -> {
                seg.set(ValueLayout.JAVA_BYTE, off, TRACKING_RESET);
                seg.set(INT, p, t.epoch());
            }
        }
    }

    @Override
    public RowRecord decode(MemorySegment seg, long off, int n) {
        byte type = seg.get(ValueLayout.JAVA_BYTE, off);
        long p = off + 1;
        int payload = n - 1;
        return switch (type) {
            case SHADOW_CREATE -> payload != 32 ? null : new RowRecord.ShadowCreate(JournalFraming.getUuid(seg, p),
                    seg.get(INT, p + 16), seg.get(LONG, p + 20), (seg.get(INT, p + 28) & 1) != 0);
            case SHADOW_DELETE -> payload != 16 ? null : new RowRecord.ShadowDelete(JournalFraming.getUuid(seg, p));
            case LIVE -> payload != 32 ? null : new RowRecord.Live(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12), seg.get(INT, p + 16), seg.get(INT, p + 20), seg.get(INT, p + 24),
                    (seg.get(INT, p + 28) & 1) != 0);
            case TOUCH -> payload != 16 ? null : new RowRecord.Touch(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12));
            case REVERT -> payload != 20 ? null : new RowRecord.Revert(JournalFraming.getUuid(seg, p),
                    seg.get(INT, p + 16));
            case TRACKING_RESET -> payload != 4 ? null : new RowRecord.TrackingReset(seg.get(INT, p));
            default -> null;
        };
    }
}
