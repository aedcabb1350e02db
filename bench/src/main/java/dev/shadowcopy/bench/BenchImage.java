package dev.shadowcopy.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The data of the image benchmarks, written to plain files and devices so that every tool reads the same bytes:
 * a volume of 1 MiB regions, 40 % random, 40 % log-like text, 10 % written zeros, 10 % never written, and the
 * changes an incremental measures (1 % of the volume in runs, as file rewrites do, or as scattered 4 KiB blocks).
 */
final class BenchImage {
    static final int REGION = 1 << 20;

    private BenchImage() {}

    /**
     * Writes the image through {@code ch} (a new sparse file, or a device that reads as zeros), 1 MiB regions at
     * their offsets; never-written regions are skipped. Returns the bytes written (data and written zeros).
     */
    static long write(FileChannel ch, long size, long seed) throws IOException {
        Random r = new Random(seed);
        long written = 0;
        byte[] b = new byte[REGION];
        for (long off = 0; off < size; off += REGION) {
            int kind = r.nextInt(10);
            Random content = new Random(r.nextLong());
            if (kind == 9) {
                continue; // never written: a hole
            }
            if (kind == 8) {
                Arrays.fill(b, (byte) 0);
            } else if (kind < 4) {
                content.nextBytes(b);
            } else {
                text(b, content);
            }
            int n = (int) Math.min(REGION, size - off);
            writeFully(ch, ByteBuffer.wrap(b, 0, n), off);
            written += n;
        }
        ch.force(true);
        return written;
    }

    /** {@link #write} into a new sparse file of {@code size} bytes. */
    static long create(Path file, long size, long seed) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long n = write(ch, size, seed);
            if (ch.size() < size) {
                try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
                    raf.setLength(size);
                }
            }
            return n;
        }
    }

    /** Log-like text: what a file server's volume is full of. */
    static void text(byte[] b, Random r) {
        String[] words = {"GET", "POST", "/api/v1/items", "200", "404", "user", "session", "INFO", "WARN", "request",
            "completed", "in", "ms", "backend=db1", "cache", "miss", "hit", "2026-11-25T07:00:00Z"};
        int p = 0;
        StringBuilder line = new StringBuilder();
        while (p < b.length) {
            line.setLength(0);
            line.append(r.nextInt(1_000_000)).append(' ');
            for (int i = 0; i < 8; i++) {
                line.append(words[r.nextInt(words.length)]).append(' ');
            }
            line.append(r.nextInt(5000)).append('\n');
            byte[] l = line.toString().getBytes(StandardCharsets.US_ASCII);
            int n = Math.min(l.length, b.length - p);
            System.arraycopy(l, 0, b, p, n);
            p += n;
        }
    }

    /** One change: new random bytes at a 4 KiB-aligned offset. */
    record Change(long offset, byte[] data) {}

    /** 1 % of {@code size} as runs of {@code run} bytes at random 4 KiB-aligned offsets. */
    static List<Change> changes(long size, int run, long seed) {
        Random r = new Random(seed);
        List<Change> out = new ArrayList<>();
        for (long done = 0; done < size / 100; done += run) {
            byte[] b = new byte[run];
            r.nextBytes(b);
            long off = (long) (r.nextDouble() * (size - run)) / 4096 * 4096;
            out.add(new Change(off, b));
        }
        return out;
    }

    /**
     * Writes the changes to a file or a block device, then makes them durable. A block device is written with
     * O_DIRECT, as a file system on it writes (bios of the write's size): buffered writes to a block device go
     * through its page cache, whose write-back on this kernel sends far larger extents than were written and so
     * would measure the page cache, not the backup.
     */
    static void apply(Path target, List<Change> changes) throws IOException {
        boolean device = !Files.isRegularFile(target);
        try (FileChannel ch = device ? FileChannel.open(target, StandardOpenOption.WRITE,
                com.sun.nio.file.ExtendedOpenOption.DIRECT) : FileChannel.open(target, StandardOpenOption.WRITE)) {
            ByteBuffer aligned = device ? ByteBuffer.allocateDirect(2 << 20).alignedSlice(4096) : null;
            for (Change c : changes) {
                if (device) {
                    aligned.clear().put(c.data()).flip();
                    writeFully(ch, aligned, c.offset());
                } else {
                    writeFully(ch, ByteBuffer.wrap(c.data()), c.offset());
                }
            }
            ch.force(true);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long off) throws IOException {
        while (b.hasRemaining()) {
            off += ch.write(b, off);
        }
    }
}
