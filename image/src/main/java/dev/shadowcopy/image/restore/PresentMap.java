package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.zip.CRC32C;

/**
 * Which chunks of a live restore's target already hold their data (copied from the source, or written by the guest):
 * the durable progress state of {@link LiveRestore}. It must survive two kinds of crash with different promises:
 *
 * <ul>
 *   <li><b>The process dies</b> (kill -9 of the daemon; the machine keeps running): every write it acknowledged must
 *       survive, flushed or not, as for any attached volume — the data is in the page cache, and so must be the bit
 *       saying it is there, or the copy would overwrite the guest's write with the source's data after the restart.
 *       So each bit is written to {@code present.log} (a positional write of its 8-byte word, no sync) before the
 *       write that set it is acknowledged.</li>
 *   <li><b>Power is lost</b> (or the kernel crashes): only what a flush acknowledged must survive. {@code present.log}
 *       may then hold bits whose data never reached the disk, so it is trusted only in the boot that wrote it (it
 *       records the kernel's boot id); otherwise {@code present.map} is: published (temporary name, fsync, rename,
 *       directory fsync) by {@link #publish} with a snapshot taken <em>before</em> the target was flushed, so every
 *       bit it holds names data that was durable before the map was.</li>
 * </ul>
 * Bits are only ever set, never cleared, so the log needs no ordering beyond "data before bit" in one process's
 * program order, and a torn log is impossible within a boot (the page cache is not torn).
 *
 * <p>Both files, big-endian:
 * <pre>
 * present.map  0 u32 magic "SCLM"   4 u32 version (1)   8 u32 chunk size   12 u32 0   16 u64 chunks
 *              24 u64[ceil(chunks / 64)] bitmap (bit c % 64 of word c / 64: chunk c is in place)   then u32 CRC32C of
 *              everything before it
 * present.log  0 u32 magic "SCLL"   4 u32 version (1)   8 u32 chunk size   12 u32 0   16 u64 chunks
 *              24 16 bytes boot id (/proc/sys/kernel/random/boot_id)   40 u64[ceil(chunks / 64)] bitmap
 * </pre>
 *
 * <p>Thread-safety: {@link #isPresent} and {@link #markPresent} may run concurrently; a word of the log is written
 * under its lock with the word's value at that moment, so a later write never carries a stale word.
 */
final class PresentMap implements AutoCloseable {
    static final String MAP = "present.map";
    static final String LOG = "present.log";
    private static final int MAP_HEADER = 24;
    private static final int LOG_HEADER = 40;
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int WORD_LOCKS = 256;

    private final Storage storage;
    private final Path dir;
    private final int chunkSize;
    private final long chunks;
    private final AtomicLongArray bits;
    private final StorageFile log;
    private final Object[] wordLocks = new Object[WORD_LOCKS];
    private final ThreadLocal<MemorySegment> word = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(8));

    private PresentMap(Storage storage, Path dir, int chunkSize, long chunks, AtomicLongArray bits, StorageFile log) {
        this.storage = storage;
        this.dir = dir;
        this.chunkSize = chunkSize;
        this.chunks = chunks;
        this.bits = bits;
        this.log = log;
        for (int i = 0; i < WORD_LOCKS; i++) {
            wordLocks[i] = new Object();
        }
    }

    private static int words(long chunks) {
        return (int) ((chunks + 63) >>> 6);
    }

    /** A new, empty map in {@code dir}: published, and its log made for this boot. */
    static PresentMap create(Storage storage, Path dir, int chunkSize, long chunks, UUID bootId) throws IOException {
        storage.createDirectories(dir);
        storage.delete(dir.resolve(LOG));
        AtomicLongArray bits = new AtomicLongArray(words(chunks));
        storage.publish(dir.resolve(MAP), encodeMap(chunkSize, chunks, snapshot(bits)));
        return new PresentMap(storage, dir, chunkSize, chunks, bits, newLog(storage, dir, chunkSize, chunks, bits,
                bootId));
    }

    /**
     * Opens the map in {@code dir}: the log's bits when it was written in this boot ({@code bootId}), else the
     * published map's (then the log is made again from them, for this boot).
     */
    static PresentMap open(Storage storage, Path dir, int chunkSize, long chunks, UUID bootId) throws IOException {
        long[] published = readMap(storage, dir.resolve(MAP), chunkSize, chunks);
        long[] logged = readLog(storage, dir.resolve(LOG), chunkSize, chunks, bootId);
        AtomicLongArray bits = new AtomicLongArray(words(chunks));
        for (int i = 0; i < published.length; i++) {
            bits.set(i, published[i] | (logged == null ? 0 : logged[i]));
        }
        StorageFile log = logged != null ? storage.open(dir.resolve(LOG), OpenMode.READ_WRITE)
                : newLog(storage, dir, chunkSize, chunks, bits, bootId);
        return new PresentMap(storage, dir, chunkSize, chunks, bits, log);
    }

    /** This machine's boot id: what tells "the process died" from "the machine restarted". */
    static UUID bootId() throws IOException {
        return UUID.fromString(java.nio.file.Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim());
    }

    private static StorageFile newLog(Storage storage, Path dir, int chunkSize, long chunks, AtomicLongArray bits,
                                      UUID bootId) throws IOException {
        Path tmp = dir.resolve(LOG + ".tmp");
        storage.delete(tmp);
        long[] w = snapshot(bits);
        ByteBuffer b = ByteBuffer.allocate(LOG_HEADER + w.length * 8);
        b.putInt(Formats.LIVE_RESTORE_LOG_MAGIC).putInt(Formats.LIVE_RESTORE_MAP_VERSION).putInt(chunkSize).putInt(0)
                .putLong(chunks).putLong(bootId.getMostSignificantBits()).putLong(bootId.getLeastSignificantBits());
        for (long x : w) {
            b.putLong(x);
        }
        StorageFile f = storage.open(tmp, OpenMode.CREATE_NEW);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(b.capacity());
            MemorySegment.copy(b.array(), 0, s, ValueLayout.JAVA_BYTE, 0, b.capacity());
            f.write(0, s);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
        // no sync: a log is only ever believed in the boot that wrote it, where the page cache holds it whole
        storage.rename(tmp, dir.resolve(LOG));
        return f;
    }

    long chunks() {
        return chunks;
    }

    int chunkSize() {
        return chunkSize;
    }

    boolean isPresent(long c) {
        return (bits.get((int) (c >>> 6)) & (1L << (c & 63))) != 0;
    }

    /** Chunks in place. */
    long presentCount() {
        long n = 0;
        for (int i = 0; i < bits.length(); i++) {
            n += Long.bitCount(bits.get(i));
        }
        return n;
    }

    boolean complete() {
        return presentCount() == chunks;
    }

    /**
     * Records that chunk {@code c} is in place: in memory, then in the log (the page cache), before the caller
     * acknowledges anything that depends on it. Not durable against power loss until {@link #publish}.
     */
    void markPresent(long c) throws IOException {
        int i = (int) (c >>> 6);
        long bit = 1L << (c & 63);
        long v;
        do {
            v = bits.get(i);
            if ((v & bit) != 0) {
                return;
            }
        } while (!bits.compareAndSet(i, v, v | bit));
        synchronized (wordLocks[i % WORD_LOCKS]) {
            MemorySegment s = word.get();
            s.set(WORD, 0, bits.get(i)); // the word as it is now: every bit set before this lock was taken
            log.write(LOG_HEADER + 8L * i, s);
        }
    }

    /** The bits as of now, for {@link #publish} after the target is flushed. */
    long[] snapshot() {
        return snapshot(bits);
    }

    private static long[] snapshot(AtomicLongArray bits) {
        long[] w = new long[bits.length()];
        for (int i = 0; i < w.length; i++) {
            w[i] = bits.get(i);
        }
        return w;
    }

    /**
     * Publishes {@code snapshot} as the durable map. The caller took it before flushing the target, so every chunk
     * it names was durable before this map is.
     */
    void publish(long[] snapshot) throws IOException {
        storage.publish(dir.resolve(MAP), encodeMap(chunkSize, chunks, snapshot));
    }

    private static byte[] encodeMap(int chunkSize, long chunks, long[] w) {
        ByteBuffer b = ByteBuffer.allocate(MAP_HEADER + w.length * 8 + 4);
        b.putInt(Formats.LIVE_RESTORE_MAP_MAGIC).putInt(Formats.LIVE_RESTORE_MAP_VERSION).putInt(chunkSize).putInt(0)
                .putLong(chunks);
        for (long x : w) {
            b.putLong(x);
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    private static long[] readMap(Storage storage, Path p, int chunkSize, long chunks) throws IOException {
        byte[] m;
        try {
            m = storage.readAll(p);
        } catch (NoSuchFileException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "the live restore's map " + p
                    + " is missing");
        }
        int n = words(chunks);
        ByteBuffer b = ByteBuffer.wrap(m);
        if (m.length != MAP_HEADER + n * 8 + 4 || b.getInt() != Formats.LIVE_RESTORE_MAP_MAGIC
                || b.getInt() != Formats.LIVE_RESTORE_MAP_VERSION || b.getInt() != chunkSize || b.getInt() != 0
                || b.getLong() != chunks) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "the live restore's map " + p
                    + " does not match its restore (" + chunks + " chunks of " + chunkSize + " bytes)");
        }
        CRC32C crc = new CRC32C();
        crc.update(m, 0, m.length - 4);
        if ((int) crc.getValue() != ByteBuffer.wrap(m, m.length - 4, 4).getInt()) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "the live restore's map " + p
                    + " fails its checksum");
        }
        long[] w = new long[n];
        for (int i = 0; i < n; i++) {
            w[i] = b.getLong();
        }
        return w;
    }

    /** The log's bits if it was written in this boot for this restore, else null. */
    private static long[] readLog(Storage storage, Path p, int chunkSize, long chunks, UUID bootId) throws IOException {
        byte[] m;
        try {
            m = storage.readAll(p);
        } catch (NoSuchFileException e) {
            return null;
        }
        int n = words(chunks);
        ByteBuffer b = ByteBuffer.wrap(m);
        if (m.length != LOG_HEADER + n * 8 || b.getInt() != Formats.LIVE_RESTORE_LOG_MAGIC
                || b.getInt() != Formats.LIVE_RESTORE_MAP_VERSION || b.getInt() != chunkSize || b.getInt() != 0
                || b.getLong() != chunks || b.getLong() != bootId.getMostSignificantBits()
                || b.getLong() != bootId.getLeastSignificantBits()) {
            return null; // another boot's (power was lost since): only the published map is trusted
        }
        long[] w = new long[n];
        for (int i = 0; i < n; i++) {
            w[i] = b.getLong();
        }
        return w;
    }

    @Override
    public void close() throws IOException {
        log.close();
    }

    /** Removes both files (the restore is over); the directory is left to the caller. */
    static void delete(Storage storage, Path dir) throws IOException {
        storage.delete(dir.resolve(MAP));
        storage.delete(dir.resolve(LOG));
        storage.delete(dir.resolve(LOG + ".tmp"));
    }
}
