package dev.shadowcopy.image.repository;

import dev.shadowcopy.platform.Storage;
import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.function.Consumer;

/**
 * Where a repository keeps its objects: a directory ({@link LocalBackend}) or an S3 bucket under a prefix
 * ({@code image.repository.s3.S3Backend}). Everything {@link Repository} and the layers above store goes through
 * here, named by keys relative to the repository: {@code repository.json}, {@code chunks/abc/abc…},
 * {@code backups/<id>/manifest}, {@code leases/<id>}, {@code gc/pending} ({@code /} separates levels; a
 * "directory" is a key prefix).
 *
 * <p>Durability contract, the same words for both kinds (docs/backup.md, "Durability"):
 * <ul>
 *   <li>{@link #writeChunk} and {@link #writeNew}: stored, but durable only after the next {@link #barrier};</li>
 *   <li>{@link #publish} and {@link #delete}: atomic and durable on return;</li>
 *   <li>{@link #barrier}: every write issued before it is durable when it returns (a directory: syncfs; object
 *       storage: every upload acknowledged).</li>
 * </ul>
 * A directory's writes can be torn by a power loss before the barrier, so a chunk file is trusted only once a
 * committed backup point names it; an object store never shows a partial object, so an existing chunk object is
 * whole ({@link #lockFree} backends may reuse it).
 *
 * <p>Thread-safety: implementations are safe for concurrent use.
 */
public interface RepositoryBackend extends Closeable {

    /** What the user typed to name it: a directory, or {@code s3://bucket/prefix}. */
    String location();

    /**
     * False for a directory: the repository lock (a POSIX record lock) orders backups against prune and garbage
     * collection. True for object storage, which has no lock: leases and the garbage collector's generation fence
     * make every pair of operations safe without one (docs/backup.md, "Many hosts and no lock").
     */
    boolean lockFree();

    /** Reads a whole object. @throws java.nio.file.NoSuchFileException when it is not there */
    byte[] read(String key) throws IOException;

    /**
     * Writes a new object, not durable before {@link #barrier}. A directory refuses an existing name
     * ({@link java.nio.file.FileAlreadyExistsException}); object storage replaces it.
     */
    void writeNew(String key, byte[] data) throws IOException;

    /** Replaces (or creates) an object atomically and durably. */
    void publish(String key, byte[] data) throws IOException;

    /** Removes an object if present; durable on return. */
    void delete(String key) throws IOException;

    boolean exists(String key) throws IOException;

    /** Names directly below a "directory" key (objects and sub-directories), sorted; empty when there is none. */
    List<String> list(String dir) throws IOException;

    /** True if the key names a directory (object storage: a prefix with at least one object below it). */
    boolean isDirectory(String key) throws IOException;

    /** Creates a directory with its parents (object storage: nothing to do). */
    void makeDirectory(String dir) throws IOException;

    /** Makes the names created or deleted in a directory durable (object storage: they already are). */
    void syncDirectory(String dir) throws IOException;

    /** Every write issued so far is durable on return. */
    void barrier() throws IOException;

    // ------------------------------------------------------------------ chunks

    /**
     * Stores an encoded chunk under its id (durable at the next {@link #barrier}). Returns false when nothing had to
     * be stored: object storage already holds a whole object of that name (an interrupted backup's upload, or another
     * host's). A directory always writes (a file left by a crash may be torn).
     */
    boolean writeChunk(ChunkId id, byte[] blob) throws IOException;

    /** @throws java.nio.file.NoSuchFileException when the chunk is not there */
    byte[] readChunk(ChunkId id) throws IOException;

    /**
     * {@link #writeChunk(ChunkId, byte[])} of an encoded chunk held in native memory ({@code blob[0, length)}): the
     * backup's hot path. A directory writes it without a copy on the Java heap and starts its write-back at once;
     * the default copies it to an array.
     */
    default boolean writeChunk(ChunkId id, MemorySegment blob, long length) throws IOException {
        return writeChunk(id, blob.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE));
    }

    /**
     * Reads a stored chunk into {@code scratch} and returns its length: the restore's hot path. A directory reads it
     * there without a copy on the Java heap; the default copies from an array.
     *
     * @throws java.nio.file.NoSuchFileException when the chunk is not there
     * @throws RepositoryException (corrupt) when it is longer than {@code scratch}
     */
    default long readChunk(ChunkId id, MemorySegment scratch) throws IOException {
        byte[] b = readChunk(id);
        if (b.length > scratch.byteSize()) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "chunk " + id.hex() + " is damaged: "
                    + "longer than a chunk (" + b.length + " bytes)");
        }
        MemorySegment.copy(b, 0, scratch, ValueLayout.JAVA_BYTE, 0, b.length);
        return b.length;
    }

    /** Stored size of a chunk, or -1 when it is not there. */
    long chunkFileSize(ChunkId id) throws IOException;

    /** Removes chunks (durable on return); returns how many were there. Object storage batches the requests. */
    long deleteChunks(Collection<ChunkId> ids) throws IOException;

    /** Every chunk in the store, and (to {@code leftover}) the keys of anything else found among them. */
    void forEachChunkFile(Consumer<ChunkId> chunk, Consumer<String> leftover) throws IOException;

    // ------------------------------------------------------------------ what lock-free backends also need

    /** An object's key, size and the store's time of its last write. */
    record ObjectInfo(String key, long size, Instant lastModified) {}

    /** Every object whose key starts with {@code prefix}, with its time of last write (the store's clock). */
    List<ObjectInfo> listTree(String prefix) throws IOException;

    /** The store's time of the object's last write, or null when it is not there. */
    Instant lastModified(String key) throws IOException;

    // ------------------------------------------------------------------ work files

    /** Where work files of this process go (the writable overlay of {@code backups serve}): always a local disk. */
    Path workDir();

    /** The storage of {@link #workDir}. */
    Storage workStorage();

    /** The directory of this repository on a local disk, or null for object storage. */
    Path directory();
}
