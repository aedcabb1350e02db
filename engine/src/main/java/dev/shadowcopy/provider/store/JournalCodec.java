package dev.shadowcopy.provider.store;

import static dev.shadowcopy.provider.store.JournalFraming.INT;
import static dev.shadowcopy.provider.store.JournalFraming.LONG;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The codec of an epoch engine's journal: the one encoding of the {@link JournalRecord.Shared} records, under the type
 * bytes each engine gave them (kept as they were, so that existing journals replay), and the engine's own records
 * ({@link JournalRecord.Own}), which encode themselves and are decoded by the engine's {@link OwnDecoder}. Framed by
 * {@link JournalFraming}; little-endian:
 *
 * <pre>
 * record          payload
 *   SHADOW_CREATE  uuid(16) epoch(4) createdMillis(8) flags(4; bit 0 = persistent)
 *   SHADOW_DELETE  uuid(16)
 *   TOUCH          firstChunk(8) count(4) epoch(4)
 *   TRACKING_RESET epoch(4)
 *   REVERTED       uuid(16) newEpoch(4)
 * </pre>
 * A payload of the wrong length for its type, or an unknown type, is not a record (the end of the log).
 */
public final class JournalCodec implements RecordCodec<JournalRecord> {

    /** Reads one of an engine's own records: {@code payload} bytes at {@code p} of {@code type}, or null. */
    @FunctionalInterface
    public interface OwnDecoder {
        JournalRecord.Own decode(byte type, MemorySegment seg, long p, int payload);
    }

    private final int kind;
    private final byte shadowCreate;
    private final byte shadowDelete;
    private final byte touch;
    private final byte trackingReset;
    private final byte reverted;
    private final OwnDecoder own;

    /**
     * @param kind the journal kind ({@code Formats.JOURNAL_KIND_*})
     * @param own  the engine's own records
     */
    public JournalCodec(int kind, int shadowCreate, int shadowDelete, int touch, int trackingReset, int reverted,
                        OwnDecoder own) {
        this.kind = kind;
        this.shadowCreate = (byte) shadowCreate;
        this.shadowDelete = (byte) shadowDelete;
        this.touch = (byte) touch;
        this.trackingReset = (byte) trackingReset;
        this.reverted = (byte) reverted;
        this.own = own;
    }

    @Override
    public int kind() {
        return kind;
    }

    @Override
    public int size(JournalRecord r) {
        return 1 + switch (r) {
            case JournalRecord.ShadowCreate c -> 32;
            case JournalRecord.ShadowDelete d -> 16;
            case JournalRecord.Touch t -> 16;
            case JournalRecord.TrackingReset t -> 4;
            case JournalRecord.Reverted v -> 20;
            case JournalRecord.Own o -> o.payloadSize();
            default -> throw new IllegalArgumentException("not a journal record: " + r);
        };
    }

    @Override
    public void encode(MemorySegment seg, long off, JournalRecord r) {
        long p = off + 1;
        switch (r) {
            case JournalRecord.ShadowCreate c -> {
                seg.set(ValueLayout.JAVA_BYTE, off, shadowCreate);
                p = JournalFraming.putUuid(seg, p, c.id());
                seg.set(INT, p, c.epoch());
                seg.set(LONG, p + 4, c.createdMillis());
                seg.set(INT, p + 12, c.persistent() ? 1 : 0);
            }
            case JournalRecord.ShadowDelete d -> {
                seg.set(ValueLayout.JAVA_BYTE, off, shadowDelete);
                JournalFraming.putUuid(seg, p, d.id());
            }
            case JournalRecord.Touch t -> {
                seg.set(ValueLayout.JAVA_BYTE, off, touch);
                putChunkAndInts(seg, p, t.first(), t.count(), t.epoch());
            }
            case JournalRecord.TrackingReset t -> {
                seg.set(ValueLayout.JAVA_BYTE, off, trackingReset);
                seg.set(INT, p, t.epoch());
            }
            case JournalRecord.Reverted v -> {
                seg.set(ValueLayout.JAVA_BYTE, off, reverted);
                seg.set(INT, JournalFraming.putUuid(seg, p, v.id()), v.newEpoch());
            }
            case JournalRecord.Own o -> {
                seg.set(ValueLayout.JAVA_BYTE, off, o.type());
                o.encode(seg, p);
            }
            default -> throw new IllegalArgumentException("not a journal record: " + r);
        }
    }

    @Override
    public JournalRecord decode(MemorySegment seg, long off, int n) {
        byte type = seg.get(ValueLayout.JAVA_BYTE, off);
        long p = off + 1;
        int payload = n - 1;
        if (type == shadowCreate) {
            return payload != 32 ? null : new JournalRecord.ShadowCreate(JournalFraming.getUuid(seg, p),
                    seg.get(INT, p + 16), seg.get(LONG, p + 20), (seg.get(INT, p + 28) & 1) != 0);
        } else if (type == shadowDelete) {
            return payload != 16 ? null : new JournalRecord.ShadowDelete(JournalFraming.getUuid(seg, p));
        } else if (type == touch) {
            return payload != 16 ? null : new JournalRecord.Touch(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12));
        } else if (type == trackingReset) {
            return payload != 4 ? null : new JournalRecord.TrackingReset(seg.get(INT, p));
        } else if (type == reverted) {
            return payload != 20 ? null : new JournalRecord.Reverted(JournalFraming.getUuid(seg, p),
                    seg.get(INT, p + 16));
        }
        return own.decode(type, seg, p, payload);
    }

    /** chunk(8) a(4) b(4): how TOUCH, INTENT, PRESERVE and LIVE begin. */
    public static void putChunkAndInts(MemorySegment seg, long p, long chunk, int a, int b) {
        seg.set(LONG, p, chunk);
        seg.set(INT, p + 8, a);
        seg.set(INT, p + 12, b);
    }
}
