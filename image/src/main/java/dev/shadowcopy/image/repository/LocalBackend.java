package dev.shadowcopy.image.repository;

import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/**
 * A repository in a directory, every file operation through a {@link Storage} (the real file system, or the
 * engine's simulated disk in the crash tests). Keys are paths below the directory.
 *
 * <p>Write path: a chunk is written to a temporary name in its directory and renamed, without an fsync of its
 * own; {@link #barrier} (syncfs of the repository's file system) makes every chunk and name durable at once.
 * {@link #writeNew} creates a file (mode 0600), not synced; {@link #publish} is the storage's one durable way
 * (temporary name, fsync, rename, fsync of the directory). Directories are created 0700 whatever the umask.
 *
 * <p>Not done here: any reuse of a chunk file found on disk. A crash before the barrier can leave it torn, so a
 * chunk is written again unless a committed point names it ({@link #writeChunk} always writes).
 */
public final class LocalBackend implements RepositoryBackend {
    private final Storage storage;
    private final Path root;

    public LocalBackend(Storage storage, Path root) {
        this.storage = storage;
        this.root = root;
    }

    public LocalBackend(Path root) {
        this(LocalStorage.INSTANCE, root);
    }

    Storage storage() {
        return storage;
    }

    @Override
    public String location() {
        return root.toString();
    }

    @Override
    public boolean lockFree() {
        return false;
    }

    @Override
    public Path directory() {
        return root;
    }

    private Path path(String key) {
        return key.isEmpty() ? root : root.resolve(key);
    }

    @Override
    public byte[] read(String key) throws IOException {
        return storage.readAll(path(key));
    }

    @Override
    public void writeNew(String key, byte[] data) throws IOException {
        writeNew(path(key), data);
    }

    private void writeNew(Path p, byte[] data) throws IOException {
        try (StorageFile f = storage.open(p, OpenMode.CREATE_NEW); Arena arena = Arena.ofConfined()) {
            if (data.length > 0) {
                MemorySegment s = arena.allocate(data.length);
                MemorySegment.copy(data, 0, s, ValueLayout.JAVA_BYTE, 0, data.length);
                f.write(0, s);
            }
        }
    }

    @Override
    public void publish(String key, byte[] data) throws IOException {
        storage.publish(path(key), data);
    }

    @Override
    public void delete(String key) throws IOException {
        storage.delete(path(key));
    }

    @Override
    public boolean exists(String key) {
        return storage.exists(path(key));
    }

    @Override
    public List<String> list(String dir) throws IOException {
        Path p = path(dir);
        if (!storage.isDirectory(p)) {
            return List.of();
        }
        return storage.list(p);
    }

    @Override
    public boolean isDirectory(String key) {
        return storage.isDirectory(path(key));
    }

    @Override
    public void makeDirectory(String dir) throws IOException {
        makeDirectory(path(dir));
    }

    private void makeDirectory(Path dir) throws IOException {
        if (storage instanceof LocalStorage) {
            Files.createDirectories(dir, Repository.PRIVATE_DIR); // modes are the real file system's
            return;
        }
        storage.createDirectories(dir);
    }

    @Override
    public void syncDirectory(String dir) throws IOException {
        storage.syncDirectory(path(dir));
    }

    @Override
    public void barrier() throws IOException {
        storage.syncFileSystem(root);
    }

    // ------------------------------------------------------------------ chunks

    private Path chunkPath(ChunkId id) {
        String h = id.hex();
        return root.resolve("chunks").resolve(h.substring(0, 3)).resolve(h);
    }

    /** Temporary name, then rename (replacing a chunk file an interrupted backup may have left torn). */
    @Override
    public boolean writeChunk(ChunkId id, byte[] blob) throws IOException {
        try (Arena arena = Arena.ofConfined()) { // the storage writes from native memory
            MemorySegment s = arena.allocate(Math.max(1, blob.length));
            MemorySegment.copy(blob, 0, s, ValueLayout.JAVA_BYTE, 0, blob.length);
            return writeChunk(id, s, blob.length);
        }
    }

    /**
     * As {@link #writeChunk(ChunkId, byte[])}, from native memory, and the chunk's write-back is started at once
     * (sync_file_range), so that the barrier before the commit finds little left to write: reads, compression and
     * writes overlap.
     */
    @Override
    public boolean writeChunk(ChunkId id, MemorySegment blob, long length) throws IOException {
        Path target = chunkPath(id);
        Path tmp = target.resolveSibling(target.getFileName() + "." + Long.toHexString(
                ThreadLocalRandom.current().nextLong()) + ".tmp");
        try (StorageFile f = openNew(tmp)) {
            f.write(0, blob.asSlice(0, length));
            f.startWriteback();
        }
        storage.rename(tmp, target);
        return true;
    }

    private StorageFile openNew(Path tmp) throws IOException {
        try {
            return storage.open(tmp, OpenMode.CREATE_NEW);
        } catch (NoSuchFileException e) {
            makeDirectory(tmp.getParent());
            return storage.open(tmp, OpenMode.CREATE_NEW);
        }
    }

    @Override
    public byte[] readChunk(ChunkId id) throws IOException {
        return storage.readAll(chunkPath(id));
    }

    @Override
    public long readChunk(ChunkId id, MemorySegment scratch) throws IOException {
        try (StorageFile f = storage.open(chunkPath(id), OpenMode.READ)) {
            long size = f.size();
            if (size > scratch.byteSize()) {
                throw new RepositoryException(RepositoryException.Code.CORRUPT, "chunk " + id.hex() + " is damaged: "
                        + "longer than a chunk (" + size + " bytes)");
            }
            f.read(0, scratch.asSlice(0, size));
            return size;
        }
    }

    @Override
    public long chunkFileSize(ChunkId id) throws IOException {
        try (StorageFile f = storage.open(chunkPath(id), OpenMode.READ)) {
            return f.size();
        } catch (NoSuchFileException e) {
            return -1;
        }
    }

    @Override
    public long deleteChunks(Collection<ChunkId> ids) throws IOException {
        long n = 0;
        for (ChunkId id : ids) {
            Path p = chunkPath(id);
            if (storage.exists(p)) {
                storage.delete(p);
                n++;
            }
        }
        return n;
    }

    @Override
    public void forEachChunkFile(Consumer<ChunkId> chunk, Consumer<String> leftover) throws IOException {
        Path chunks = root.resolve("chunks");
        for (String dn : storage.list(chunks)) {
            Path d = chunks.resolve(dn);
            if (!storage.isDirectory(d)) {
                leftover.accept("chunks/" + dn);
                continue;
            }
            for (String fn : storage.list(d)) {
                ChunkId id = ChunkId.parse(fn);
                if (id != null && !id.isZero()) {
                    chunk.accept(id);
                } else {
                    leftover.accept("chunks/" + dn + "/" + fn);
                }
            }
        }
    }

    // ------------------------------------------------------------------ lock-free support: not used for a directory

    @Override
    public List<ObjectInfo> listTree(String prefix) throws IOException {
        List<ObjectInfo> out = new ArrayList<>();
        int slash = prefix.lastIndexOf('/');
        String dir = slash < 0 ? "" : prefix.substring(0, slash);
        walk(dir, prefix, out);
        return out;
    }

    private void walk(String dir, String prefix, List<ObjectInfo> out) throws IOException {
        for (String n : list(dir)) {
            String key = dir.isEmpty() ? n : dir + "/" + n;
            if (!key.startsWith(prefix) && !prefix.startsWith(key + "/")) {
                continue;
            }
            if (isDirectory(key)) {
                walk(key, prefix, out);
            } else {
                out.add(new ObjectInfo(key, -1, null));
            }
        }
    }

    @Override
    public Instant lastModified(String key) {
        return null; // a directory is ordered by its lock, not by times
    }

    @Override
    public Path workDir() {
        return root.resolve("tmp");
    }

    @Override
    public Storage workStorage() {
        return storage;
    }

    @Override
    public void close() {
        // nothing held
    }

    @Override
    public String toString() {
        return "repository " + root;
    }
}
