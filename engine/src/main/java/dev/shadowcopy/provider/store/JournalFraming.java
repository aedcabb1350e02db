package dev.shadowcopy.provider.store;

import dev.shadowcopy.platform.Formats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The byte layout of a journal file ({@code journal-<generation as 16 hex digits>.log}); record payloads
 * belong to the engine's {@link RecordCodec}. All integers are little-endian.
 *
 * <pre>
 * File header, 64 bytes:
 *   0  8  magic "SCJOURNL" ({@link Formats#JOURNAL_MAGIC})
 *   8  4  format version ({@link Formats#JOURNAL_VERSION}: 1)
 *  12  4  header length (64)
 *  16 16  volume UUID (most significant long, least significant long)
 *  32  8  generation
 *  40  4  kind: the engine layout whose records follow ({@link Formats#JOURNAL_KIND_COPY_ON_WRITE} 1,
 *         {@link Formats#JOURNAL_KIND_REDIRECT_ON_WRITE} 2; the split mirror and reflink keep no journal)
 *  44 16  reserved, zero
 *  60  4  CRC32C of bytes 0..59
 *
 * Records, back to back from offset 64:
 *   0  4  n = length of type + payload (1 .. 65536)
 *   4  4  CRC32C over (generation as 8 bytes) ++ type ++ payload — the generation seed makes a record that
 *         was copied from another journal fail the check
 *   8  n  type (1 byte) and payload, as the codec defines
 * </pre>
 *
 * <p>The file is grown with zeros ahead of the tail, so the 4 bytes after the last record read as 0. Replay
 * stops at the first record whose length is 0 or out of bounds, or whose CRC does not match: the torn tail
 * of the last write before a crash. Everything after it is erased at open. A record is only relied on after
 * an fdatasync that covered it, so a dropped tail never held anything acknowledged.
 */
public final class JournalFraming {
    static final long MAGIC = Formats.JOURNAL_MAGIC;
    static final int VERSION = Formats.JOURNAL_VERSION;
    public static final int HEADER_SIZE = 64;
    static final int RECORD_HEADER = 8;
    public static final int MAX_RECORD = 65536;

    public static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private JournalFraming() {}

    static void writeHeader(MemorySegment seg, UUID volume, long generation, int kind) {
        seg.asSlice(0, HEADER_SIZE).fill((byte) 0);
        seg.set(LONG, 0, MAGIC);
        seg.set(INT, 8, VERSION);
        seg.set(INT, 12, HEADER_SIZE);
        seg.set(LONG, 16, volume.getMostSignificantBits());
        seg.set(LONG, 24, volume.getLeastSignificantBits());
        seg.set(LONG, 32, generation);
        seg.set(INT, 40, kind);
        seg.set(INT, 60, crc(seg, 0, 60));
    }

    /** Checks a header; returns null when valid, else what is wrong. */
    static String checkHeader(MemorySegment seg, UUID volume, long generation, int kind) {
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
        if (seg.get(INT, 40) != kind) {
            return "journal holds records of layout kind " + seg.get(INT, 40) + ", the volume's layout is kind " + kind;
        }
        return null;
    }

    /** Frames a record of {@code n} payload bytes already written at {@code off + RECORD_HEADER}. */
    static void frame(MemorySegment seg, long off, int n, long generation) {
        seg.set(INT, off, n);
        seg.set(INT, off + 4, recordCrc(seg, off + RECORD_HEADER, n, generation));
    }

    /** Length of type + payload of the valid record at {@code off}, or -1 (end of log). */
    static int validLength(MemorySegment seg, long off, long limit, long generation) {
        if (off + RECORD_HEADER > limit) {
            return -1;
        }
        int n = seg.get(INT, off);
        if (n < 1 || n > MAX_RECORD || off + RECORD_HEADER + n > limit) {
            return -1;
        }
        return seg.get(INT, off + 4) == recordCrc(seg, off + RECORD_HEADER, n, generation) ? n : -1;
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

    /** Writes a 16-byte UUID at {@code p}; returns the offset after it (a helper for codecs). */
    public static long putUuid(MemorySegment seg, long p, UUID u) {
        seg.set(LONG, p, u.getMostSignificantBits());
        seg.set(LONG, p + 8, u.getLeastSignificantBits());
        return p + 16;
    }

    public static UUID getUuid(MemorySegment seg, long p) {
        return new UUID(seg.get(LONG, p), seg.get(LONG, p + 8));
    }
}
