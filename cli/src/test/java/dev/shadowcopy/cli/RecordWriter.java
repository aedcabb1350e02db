package dev.shadowcopy.cli;

import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.zip.CRC32C;

/**
 * The application of the live-volume tests: writes 4 KiB records (sequence number, CRC32C, random payload) to
 * a file on the file system under test, each followed by fdatasync, and after each sync appends the sequence
 * number to an acknowledgement log elsewhere. Any error is written to the log as {@code ERROR …} and ends it
 * with exit 1; a {@code stop} file beside the log ends it with {@code DONE n} and exit 0.
 *
 * <p>Record {@code n} goes to slot {@code n % SLOTS}. Arguments: data file, acknowledgement log, seed. What it
 * acknowledged must be in the data file with a valid checksum, whatever happened to the service meanwhile
 * ({@link #verify}).
 */
public final class RecordWriter {
    static final int RECORD = 4096;
    /** Records wrap around after this many (64 MiB), so that a long run never fills the file system. */
    static final long SLOTS = 16384;

    public static void main(String[] args) throws Exception {
        Path data = Path.of(args[0]);
        Path ack = Path.of(args[1]);
        Random r = new Random(Long.parseLong(args[2]));
        Path stop = ack.resolveSibling("stop");
        try (FileOutputStream log = new FileOutputStream(ack.toFile(), true)) {
            long seq = 0;
            try (FileChannel ch = FileChannel.open(data, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.allocateDirect(RECORD);
                byte[] payload = new byte[RECORD - 12];
                while (!Files.exists(stop)) {
                    r.nextBytes(payload);
                    CRC32C crc = new CRC32C();
                    crc.update(payload);
                    b.clear();
                    b.putLong(seq).putInt((int) crc.getValue()).put(payload).flip();
                    while (b.hasRemaining()) {
                        ch.write(b, (seq % SLOTS) * RECORD + b.position());
                    }
                    ch.force(false); // fdatasync: acknowledged from here on
                    log.write((seq + "\n").getBytes(StandardCharsets.US_ASCII));
                    seq++;
                }
            } catch (Throwable t) {
                log.write(("ERROR at record " + seq + ": " + t + "\n").getBytes(StandardCharsets.UTF_8));
                System.exit(1);
            }
            log.write(("DONE " + seq + "\n").getBytes(StandardCharsets.US_ASCII));
        }
    }

    /**
     * Checks the data file against the log of a writer that stopped cleanly: no error, and in every slot the
     * last record acknowledged for it, intact. Returns the number of acknowledged records.
     */
    static long verify(Path data, Path ack) throws Exception {
        long acked = 0;
        for (String line : Files.readAllLines(ack, StandardCharsets.UTF_8)) {
            if (line.startsWith("ERROR")) {
                throw new AssertionError("the application saw an error: " + line);
            }
            if (!line.startsWith("DONE")) {
                acked = Math.max(acked, Long.parseLong(line.strip()) + 1);
            }
        }
        try (FileChannel ch = FileChannel.open(data, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(RECORD);
            for (long seq = Math.max(0, acked - SLOTS); seq < acked; seq++) {
                b.clear();
                while (b.hasRemaining()) {
                    if (ch.read(b, (seq % SLOTS) * RECORD + b.position()) < 0) {
                        throw new AssertionError("acknowledged record " + seq + " is beyond the end of " + data);
                    }
                }
                b.flip();
                long s = b.getLong();
                int want = b.getInt();
                CRC32C crc = new CRC32C();
                crc.update(b);
                if (s != seq || (int) crc.getValue() != want) {
                    throw new AssertionError("acknowledged record " + seq + " is damaged (sequence " + s + ")");
                }
            }
        }
        return acked;
    }
}
