package dev.shadowcopy.provider.cow;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The byte layout of a journal file ({@code journal-<generation as 16 hex digits>.log}). All integers are
 * little-endian.
 *
 * <pre>
 * File header, 64 bytes:
 *   0  8  magic "SCJOURNL"
 *   8  4  format version (1)
 *  12  4  header length (64)
 *  16 16  volume UUID (most significant long, least significant long)
 *  32  8  generation
 *  40 20  reserved, zero
 *  60  4  CRC32C of bytes 0..59
 *
 * Records, back to back from offset 64:
 *   0  4  n = length of type + payload (1 .. 65536)
 *   4  4  CRC32C over (generation as 8 bytes) ++ type ++ payload — the generation seed makes a record that
 *         was copied from another journal fail the check
 *   8  1  type
 *   9  n-1 payload:
 *     1 SHADOW_CREATE  uuid(16) epoch(4) createdMillis(8) flags(4; bit 0 = persistent)
 *     2 SHADOW_DELETE  uuid(16)
 *     3 PRESERVE       chunk(8) from(4) to(4) slot(4; -1 = zero content)
 *     4 TOUCH          firstChunk(8) count(4) epoch(4)
 *     5 REVERT_BEGIN   uuid(16)
 *     6 REVERT_END     uuid(16) newEpoch(4)
 *     7 TRACKING_RESET epoch(4)
 * </pre>
 *
 * <p>The file is grown ahead of the tail with zeros, so the first 4 bytes after the last record read as 0.
 * Replay stops at the first record whose length is 0 or out of bounds, or whose CRC does not match: that is
 * the torn tail of the last write before a crash, and everything after it is discarded. A record is only
 * ever relied on (its chunk overwritten, its shadow copy reported) after an fdatasync that covered it, so
 * a dropped tail never held anything that was acknowledged.
 */
final class JournalFormat {
    static final long MAGIC = 0x4c4e52554f4a4353L; // "SCJOURNL" little-endian
    static final int VERSION = 1;
    static final int HEADER_SIZE = 64;
    static final int RECORD_HEADER = 8;
    static final int MAX_RECORD = 65536;

    static final byte SHADOW_CREATE = 1;
    static final byte SHADOW_DELETE = 2;
    static final byte PRESERVE = 3;
    static final byte TOUCH = 4;
    static final byte REVERT_BEGIN = 5;
    static final byte REVERT_END = 6;
    static final byte TRACKING_RESET = 7;

    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private JournalFormat() {}

    static void writeHeader(MemorySegment seg, UUID volume, long generation) {
        seg.asSlice(0, HEADER_SIZE).fill((byte) 0);
        seg.set(LONG, 0, MAGIC);
        seg.set(INT, 8, VERSION);
        seg.set(INT, 12, HEADER_SIZE);
        seg.set(LONG, 16, volume.getMostSignificantBits());
        seg.set(LONG, 24, volume.getLeastSignificantBits());
        seg.set(LONG, 32, generation);
        seg.set(INT, 60, crc(seg, 0, 60));
    }

    /** Checks a header; returns null when valid, else what is wrong. */
    static String checkHeader(MemorySegment seg, UUID volume, long generation) {
        if (seg.get(LONG, 0) != MAGIC) {
            return "not a Shadowcopy journal (bad magic)";
        }
        if (seg.get(INT, 60) != crc(seg, 0, 60)) {
            return "journal header checksum mismatch";
        }
        if (seg.get(INT, 8) != VERSION) {
            return "unsupported journal format version " + seg.get(INT, 8) + " (this build reads " + VERSION + ")";
        }
        UUID u = new UUID(seg.get(LONG, 16), seg.get(LONG, 24));
        if (!u.equals(volume)) {
            return "journal belongs to volume " + u + ", not " + volume;
        }
        if (seg.get(LONG, 32) != generation) {
            return "journal header says generation " + seg.get(LONG, 32) + ", file name says " + generation;
        }
        return null;
    }

    /** Encoded size of a record including its 8-byte header. */
    static int encodedSize(JournalRecord r) {
        return RECORD_HEADER + 1 + switch (r) {
            case JournalRecord.ShadowCreate c -> 16 + 4 + 8 + 4;
            case JournalRecord.ShadowDelete d -> 16;
            case JournalRecord.Preserve p -> 8 + 4 + 4 + 4;
            case JournalRecord.Touch t -> 8 + 4 + 4;
            case JournalRecord.RevertBegin b -> 16;
            case JournalRecord.RevertEnd e -> 16 + 4;
            case JournalRecord.TrackingReset t -> 4;
        };
    }

    /** Encodes {@code r} at {@code off}; returns the offset after it. */
    static long encode(MemorySegment seg, long off, JournalRecord r, long generation) {
        long p = off + RECORD_HEADER;
        switch (r) {
            case JournalRecord.ShadowCreate c -> {
                seg.set(ValueLayout.JAVA_BYTE, p++, SHADOW_CREATE);
                p = putUuid(seg, p, c.id());
                seg.set(INT, p, c.epoch());
                seg.set(LONG, p + 4, c.createdMillis());
                seg.set(INT, p + 12, c.persistent() ? 1 : 0);
                p += 16;
            }
            case JournalRecord.ShadowDelete d -> {
                seg.set(ValueLayout.JAVA_BYTE, p++, SHADOW_DELETE);
                p = putUuid(seg, p, d.id());
            }
            case JournalRecord.Preserve pr -> {
                seg.set(ValueLayout.JAVA_BYTE, p++, PRESERVE);
                seg.set(LONG, p, pr.chunk());
                seg.set(INT, p + 8, pr.from());
                seg.set(INT, p + 12, pr.to());
                seg.set(INT, p + 16, pr.slot());
                p += 20;
            }
            case JournalRecord.Touch t -> {
                seg.set(ValueLayout.JAVA_BYTE, p++, TOUCH);
                seg.set(LONG, p, t.first());
                seg.set(INT, p + 8, t.count());
                seg.set(INT, p + 12, t.epoch());
                p += 16;
            }
            case JournalRecord.RevertBegin b -> {
                seg.set(ValueLayout.JAVA_BYTE, p++, REVERT_BEGIN);
                p = putUuid(seg, p, b.id());
            }
            case JournalRecord.RevertEnd e -> {
                seg.set(ValueLayout.JAVA_BYTE, p++, REVERT_END);
                p = putUuid(seg, p, e.id());
                seg.set(INT, p, e.newEpoch());
                p += 4;
            }
            case JournalRecord.TrackingReset t -> {
                seg.set(ValueLayout.JAVA_BYTE, p++, TRACKING_RESET);
                seg.set(INT, p, t.epoch());
                p += 4;
            }
        }
        int n = (int) (p - off - RECORD_HEADER);
        seg.set(INT, off, n);
        seg.set(INT, off + 4, recordCrc(seg, off + RECORD_HEADER, n, generation));
        return p;
    }

    /**
     * Decodes the record at {@code off}, or returns null if it is not a complete, valid record (end of log).
     * {@code limit} is the number of valid bytes in {@code seg}.
     */
    static JournalRecord decode(MemorySegment seg, long off, long limit, long generation) {
        if (off + RECORD_HEADER > limit) {
            return null;
        }
        int n = seg.get(INT, off);
        if (n < 1 || n > MAX_RECORD || off + RECORD_HEADER + n > limit) {
            return null;
        }
        if (seg.get(INT, off + 4) != recordCrc(seg, off + RECORD_HEADER, n, generation)) {
            return null;
        }
        long p = off + RECORD_HEADER;
        byte type = seg.get(ValueLayout.JAVA_BYTE, p++);
        int payload = n - 1;
        return switch (type) {
            case SHADOW_CREATE -> payload != 32 ? null : new JournalRecord.ShadowCreate(getUuid(seg, p),
                    seg.get(INT, p + 16), seg.get(LONG, p + 20), (seg.get(INT, p + 28) & 1) != 0);
            case SHADOW_DELETE -> payload != 16 ? null : new JournalRecord.ShadowDelete(getUuid(seg, p));
            case PRESERVE -> payload != 20 ? null : new JournalRecord.Preserve(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12), seg.get(INT, p + 16));
            case TOUCH -> payload != 16 ? null : new JournalRecord.Touch(seg.get(LONG, p), seg.get(INT, p + 8),
                    seg.get(INT, p + 12));
            case REVERT_BEGIN -> payload != 16 ? null : new JournalRecord.RevertBegin(getUuid(seg, p));
            case REVERT_END -> payload != 20 ? null : new JournalRecord.RevertEnd(getUuid(seg, p),
                    seg.get(INT, p + 16));
            case TRACKING_RESET -> payload != 4 ? null : new JournalRecord.TrackingReset(seg.get(INT, p));
            default -> null;
        };
    }

    /** Length of the record at {@code off} including its header (valid only after a successful decode). */
    static int recordLength(MemorySegment seg, long off) {
        return RECORD_HEADER + seg.get(INT, off);
    }

    private static long putUuid(MemorySegment seg, long p, UUID u) {
        seg.set(LONG, p, u.getMostSignificantBits());
        seg.set(LONG, p + 8, u.getLeastSignificantBits());
        return p + 16;
    }

    private static UUID getUuid(MemorySegment seg, long p) {
        return new UUID(seg.get(LONG, p), seg.get(LONG, p + 8));
    }

    private static int recordCrc(MemorySegment seg, long off, int n, long generation) {
        CRC32C crc = new CRC32C();
        for (int i = 0; i < 8; i++) {
            crc.update((int) (generation >>> (8 * i)) & 0xff);
        }
        crc.update(seg.asSlice(off, n).asByteBuffer());
        return (int) crc.getValue();
    }

    static int crc(MemorySegment seg, long off, int n) {
        CRC32C crc = new CRC32C();
        crc.update(seg.asSlice(off, n).asByteBuffer());
        return (int) crc.getValue();
    }
}
