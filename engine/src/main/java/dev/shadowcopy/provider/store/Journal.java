package dev.shadowcopy.provider.store;

import dev.shadowcopy.platform.GroupSync;
import dev.shadowcopy.platform.NoSpaceException;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * One generation of a volume's metadata journal: an append-only file of records framed as
 * {@link JournalFraming} describes, their payloads encoded by the engine's {@link RecordCodec}. Appends go straight to the file (page cache); {@link #sync()} makes every record
 * appended before the call durable, shared among concurrent callers through {@link GroupSync}.
 *
 * <p>Space: the file is grown with zeros {@value #GROW} bytes at a time ahead of the tail, so appends are
 * overwrites and an fdatasync rarely has file-size metadata to write. The last {@value #RESERVE} bytes of
 * what has been grown are a reserve only {@link #appendUrgent} may use: when the file system is full, the
 * records that free space (shadow copy deletions) can still be written.
 *
 * <p>Locking: {@code appendLock} guards the tail and the encode buffer; it is held while the record is
 * copied into the page cache, never during a sync.
 */
public final class Journal<R> implements AutoCloseable {
    static final long GROW = 1 << 20;
    static final long RESERVE = 64 << 10;

    private final Storage storage;
    private final Path path;
    private final StorageFile file;
    private final long generation;
    private final RecordCodec<R> codec;
    private final GroupSync groupSync;
    private final ReentrantLock appendLock = new ReentrantLock();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(JournalFraming.MAX_RECORD * 4L, 8);
    private long tail;
    private long grown;

    private Journal(Storage storage, Path path, StorageFile file, long generation, RecordCodec<R> codec, long tail,
                    long grown) {
        this.storage = storage;
        this.path = path;
        this.file = file;
        this.generation = generation;
        this.codec = codec;
        this.groupSync = new GroupSync(file);
        this.tail = tail;
        this.grown = grown;
    }

    public static String fileName(long generation) {
        return String.format("journal-%016x.log", generation);
    }

    /** Parses a journal file name; -1 if it is not one. */
    public static long generationOf(String fileName) {
        if (!fileName.startsWith("journal-") || !fileName.endsWith(".log") || fileName.length() != 28) {
            return -1;
        }
        try {
            return Long.parseUnsignedLong(fileName.substring(8, 24), 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Creates a new, empty generation; durable (file, header and directory entry) on return. */
    public static <R> Journal<R> create(Storage storage, Path dir, UUID volume, long generation, RecordCodec<R> codec)
            throws IOException {
        Path path = dir.resolve(fileName(generation));
        StorageFile file = storage.open(path, OpenMode.CREATE_NEW);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment header = a.allocate(JournalFraming.HEADER_SIZE);
            JournalFraming.writeHeader(header, volume, generation, codec.kind());
            file.write(0, header);
            Journal<R> j = new Journal<>(storage, path, file, generation, codec, JournalFraming.HEADER_SIZE,
                    JournalFraming.HEADER_SIZE);
            j.growTo(GROW);
            file.sync();
            storage.syncDirectory(dir);
            return j;
        } catch (IOException | RuntimeException e) {
            file.close();
            storage.delete(path);
            throw e;
        }
    }

    /**
     * Replays a generation: passes each valid record to {@code sink} and returns the journal reopened for
     * appending after the last valid record (the torn tail, if any, is zeroed so it can never be mistaken
     * for records later).
     */
    public static <R> Journal<R> replay(Storage storage, Path dir, UUID volume, long generation, RecordCodec<R> codec,
                                        Consumer<R> sink, ReplayStats stats) throws IOException {
        Path path = dir.resolve(fileName(generation));
        StorageFile file = storage.open(path, OpenMode.READ_WRITE);
        try {
            long size = file.size();
            if (size < JournalFraming.HEADER_SIZE) {
                throw new CorruptMetadataException(path + ": journal is " + size + " bytes, shorter than its header");
            }
            long tail;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment all = a.allocate(size, 8);
                file.read(0, all);
                String problem = JournalFraming.checkHeader(all, volume, generation, codec.kind());
                if (problem != null) {
                    throw new CorruptMetadataException(path + ": " + problem);
                }
                long off = JournalFraming.HEADER_SIZE;
                while (true) {
                    int n = JournalFraming.validLength(all, off, size, generation);
                    R r = n < 0 ? null : codec.decode(all, off + JournalFraming.RECORD_HEADER, n);
                    if (r == null) {
                        break;
                    }
                    sink.accept(r);
                    stats.records++;
                    off += JournalFraming.RECORD_HEADER + n;
                }
                tail = off;
                // Anything non-zero after the tail is a torn or never-synced write. Erase all of it, not only
                // up to the first zeros: pages of an unsynced append can reach the disk out of order, and an
                // old record beyond a gap must never become valid behind records appended later.
                if (!isZero(all, tail, size)) {
                    stats.tornTailBytes = size - tail;
                    file.write(tail, a.allocate(size - tail));
                    file.sync();
                }
            }
            return new Journal<>(storage, path, file, generation, codec, tail, Math.max(size, tail));
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static boolean isZero(MemorySegment all, long from, long to) {
        long i = from;
        for (; i + 8 <= to; i += 8) {
            if (all.get(JournalFraming.LONG, i) != 0) {
                return false;
            }
        }
        for (; i < to; i++) {
            if (all.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) != 0) {
                return false;
            }
        }
        return true;
    }

    public long generation() {
        return generation;
    }

    public Path path() {
        return path;
    }

    /** Bytes of records in this generation (for the checkpoint trigger). */
    public long length() {
        appendLock.lock();
        try {
            return tail - JournalFraming.HEADER_SIZE;
        } finally {
            appendLock.unlock();
        }
    }

    /** Appends records (not yet durable). Throws {@link NoSpaceException} if the file system is full. */
    public void append(List<? extends R> records) throws IOException {
        appendInternal(records, false);
    }

    public void append(R record) throws IOException {
        appendInternal(List.of(record), false);
    }

    /** Appends records that free space; may use the reserve. */
    public void appendUrgent(R record) throws IOException {
        appendInternal(List.of(record), true);
    }

    private void appendInternal(List<? extends R> records, boolean urgent) throws IOException {
        appendLock.lock();
        try {
            int i = 0;
            while (i < records.size()) {
                long off = 0;
                int start = i;
                while (i < records.size()
                        && off + JournalFraming.RECORD_HEADER + codec.size(records.get(i)) <= buffer.byteSize()) {
                    int n = codec.size(records.get(i));
                    codec.encode(buffer, off + JournalFraming.RECORD_HEADER, records.get(i));
                    JournalFraming.frame(buffer, off, n, generation);
                    off += JournalFraming.RECORD_HEADER + n;
                    i++;
                }
                if (i == start) {
                    throw new IllegalStateException("journal record too large: " + records.get(i));
                }
                ensureRoom(off, urgent);
                file.write(tail, buffer.asSlice(0, off));
                tail += off;
            }
        } finally {
            appendLock.unlock();
        }
    }

    private void ensureRoom(long bytes, boolean urgent) throws IOException {
        long limit = urgent ? grown : grown - RESERVE;
        if (tail + bytes <= limit) {
            if (grown - tail - bytes < GROW / 2) {
                try {
                    growTo(grown + GROW);
                } catch (NoSpaceException e) {
                    // keep going on what is already grown; the next append that does not fit reports it
                }
            }
            return;
        }
        growTo(Math.max(grown + GROW, tail + bytes + RESERVE)); // throws NoSpaceException when full
        if (tail + bytes > (urgent ? grown : grown - RESERVE)) {
            throw new NoSpaceException("journal append", path.toString(), 28);
        }
    }

    private void growTo(long newEnd) throws IOException {
        if (newEnd <= grown) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment zeros = a.allocate(newEnd - grown);
            file.write(grown, zeros);
        }
        grown = newEnd;
    }

    /** Makes every record appended before this call durable. */
    public void sync() throws IOException {
        groupSync.sync();
    }

    /** Closes the file (records appended but not synced may be lost, as at a crash). */
    @Override
    public void close() throws IOException {
        try {
            file.close();
        } finally {
            arena.close();
        }
    }

    /** Closes and removes this generation's file (after a checkpoint made it obsolete). */
    public void delete() throws IOException {
        close();
        storage.delete(path);
    }

    /** Counters from a replay. */
    public static final class ReplayStats {
        public long records;
        public long tornTailBytes;
    }
}
