package dev.shadowcopy.image.repository;

import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/**
 * A backup repository: a directory holding {@code repository.json}, content-addressed chunks under
 * {@code chunks/<3 hex>/<64 hex>}, backup points under {@code backups/<id>/} and work files under {@code tmp/}.
 *
 * <p>Durability: every file operation goes through a {@link Storage} (the engine's one durability seam; the real
 * file system, or a simulated disk that fails the N-th operation and forgets unsynced data in the crash tests). A
 * chunk is written to a temporary name in its directory and renamed, without an fsync of its own; {@link #syncAll}
 * (syncfs) before a backup point is committed makes every chunk and name durable at once (see
 * {@code BackupStore.Pending#commit} in {@code image.manifest}, the layer above). A chunk file is trusted only when a
 * committed backup names it: a chunk left by an interrupted backup may be torn, so a later backup writes it again
 * rather than reuse it, and garbage collection removes it.
 *
 * <p>Privacy: whatever the umask, a repository's directories are created 0700 and its files 0600 (an unencrypted
 * repository holds the volumes' data in the clear); only its owner (root for the daemon's backups) reads it.
 *
 * <p>Thread-safety: chunk reads and writes may run concurrently; callers hold a {@link RepositoryLock}.
 */
public final class Repository {
    public static final String CONFIG = "repository.json";
    public static final int DEFAULT_CHUNK_SIZE = 1 << 20;
    /** zstd level, as Proxmox Backup Server: level 3 stored 0.2 % less in bench-backup and ran 1.5× slower. */
    public static final int DEFAULT_LEVEL = 1;
    static final ObjectMapper JSON = RepositoryJson.MAPPER;
    /** Mode of every directory a repository creates. */
    public static final FileAttribute<Set<PosixFilePermission>> PRIVATE_DIR =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    /** Mode of every file a repository creates. */
    public static final FileAttribute<Set<PosixFilePermission>> PRIVATE_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    private final Storage storage;
    private final Path root;
    private final RepositoryConfig config;
    private final BlobCodec codec;

    private Repository(Storage storage, Path root, RepositoryConfig config, Keys keys) {
        this.storage = storage;
        this.root = root;
        this.config = config;
        this.codec = new BlobCodec(keys, config.compressionLevel());
    }

    /** Options of a new repository. A null passphrase makes an unencrypted one. */
    public record InitOptions(int chunkSize, int compressionLevel, char[] passphrase, int kdfIterations) {
        public static InitOptions defaults(char[] passphrase) {
            return new InitOptions(DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL, passphrase, Keys.DEFAULT_ITERATIONS);
        }
    }

    public static boolean exists(Path dir) {
        return Files.isRegularFile(dir.resolve(CONFIG));
    }

    /** Creates a repository in {@code dir} (which may exist but must be empty) on the real file system. */
    public static Repository init(Path dir, InitOptions o) throws IOException {
        return init(LocalStorage.INSTANCE, dir, o);
    }

    /** Creates a repository in {@code dir} (which may exist but must be empty) on {@code storage}. */
    public static Repository init(Storage storage, Path dir, InitOptions o) throws IOException {
        RepositoryConfig.checkChunkSize(o.chunkSize());
        if (o.compressionLevel() < -7 || o.compressionLevel() > 19) {
            throw new RepositoryException(RepositoryException.Code.INVALID, "zstd level must be between -7 and 19");
        }
        makeDirectory(storage, dir);
        if (!storage.list(dir).isEmpty()) {
            boolean repository = storage.exists(dir.resolve(CONFIG));
            throw new RepositoryException(repository ? RepositoryException.Code.EXISTS
                    : RepositoryException.Code.INVALID, dir + (repository ? " is already a repository"
                    : " is not empty; a repository needs an empty directory"));
        }
        String id = UUID.randomUUID().toString();
        Keys keys = Keys.plain();
        RepositoryConfig.Encryption enc = null;
        if (o.passphrase() != null) {
            Keys.Created c = Keys.create(o.passphrase(), id, o.kdfIterations());
            keys = c.keys();
            enc = c.params();
        }
        RepositoryConfig cfg = new RepositoryConfig(RepositoryConfig.FORMAT, id, Instant.now().toString(),
                o.chunkSize(), "zstd", o.compressionLevel(), enc);
        if (storage instanceof LocalStorage) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------")); // it may have existed
        }
        for (String d : new String[] {"chunks", "backups", "tmp"}) {
            makeDirectory(storage, dir.resolve(d));
        }
        writeNew(storage, dir.resolve(RepositoryLock.FILE), new byte[0]);
        // The config goes last and durably: a directory without it is not a repository yet.
        storage.publish(dir.resolve(CONFIG), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(cfg));
        return new Repository(storage, dir, cfg, keys);
    }

    /** Opens an existing repository on the real file system; {@code passphrase} may be null for an unencrypted one. */
    public static Repository open(Path dir, char[] passphrase) throws IOException {
        return open(LocalStorage.INSTANCE, dir, passphrase);
    }

    /** Opens an existing repository on {@code storage}; {@code passphrase} may be null for an unencrypted one. */
    public static Repository open(Storage storage, Path dir, char[] passphrase) throws IOException {
        RepositoryConfig cfg;
        try {
            cfg = JSON.readValue(storage.readAll(dir.resolve(CONFIG)), RepositoryConfig.class);
        } catch (NoSuchFileException e) {
            throw new RepositoryException(RepositoryException.Code.NOT_A_REPOSITORY, dir + " is not a backup "
                    + "repository (no " + CONFIG + "); create one with `shadowcopy backups init --repo " + dir + "`");
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, dir.resolve(CONFIG) + " is damaged: "
                    + e.getOriginalMessage());
        }
        if (cfg.format() != RepositoryConfig.FORMAT || cfg.id() == null) {
            throw new RepositoryException(RepositoryException.Code.NOT_A_REPOSITORY, dir + " has repository format "
                    + cfg.format() + "; this version reads format " + RepositoryConfig.FORMAT);
        }
        RepositoryConfig.checkChunkSize(cfg.chunkSize());
        Keys keys = Keys.plain();
        if (cfg.encryption() != null) {
            if (passphrase == null) {
                throw new RepositoryException(RepositoryException.Code.PASSPHRASE_REQUIRED, "repository " + dir
                        + " is encrypted: give its passphrase (--passphrase-file or SHADOWCOPY_PASSPHRASE)");
            }
            keys = Keys.unlock(cfg.encryption(), passphrase, cfg.id());
        } else if (passphrase != null) {
            throw new RepositoryException(RepositoryException.Code.INVALID, "repository " + dir + " is not encrypted, "
                    + "but a passphrase was given (--passphrase-file or SHADOWCOPY_PASSPHRASE); it would protect "
                    + "nothing here. Give no passphrase for this repository, or back up into a new one, which the "
                    + "passphrase then encrypts");
        }
        for (String d : new String[] {"chunks", "backups", "tmp"}) {
            makeDirectory(storage, dir.resolve(d));
        }
        if (!storage.exists(dir.resolve(RepositoryLock.FILE))) {
            writeNew(storage, dir.resolve(RepositoryLock.FILE), new byte[0]);
        }
        return new Repository(storage, dir, cfg, keys);
    }

    /** Where the repository's files live (the real file system, or a simulated disk in tests). */
    public Storage storage() {
        return storage;
    }

    public Path root() {
        return root;
    }

    public RepositoryConfig config() {
        return config;
    }

    public int chunkSize() {
        return config.chunkSize();
    }

    public BlobCodec codec() {
        return codec;
    }

    public Keys keys() {
        return codec.keys();
    }

    public Path tmpDir() {
        return root.resolve("tmp");
    }

    /**
     * The repository lock. On a simulated disk there is no other process to exclude, so only the threads of this
     * process are ordered (the record lock needs a real file).
     */
    public RepositoryLock lock(RepositoryLock.Mode mode, Duration wait, String purpose) throws IOException {
        return RepositoryLock.acquire(root, mode, wait, purpose, storage instanceof LocalStorage);
    }

    // ------------------------------------------------------------------ chunks

    Path chunkPath(ChunkId id) {
        String h = id.hex();
        return root.resolve("chunks").resolve(h.substring(0, 3)).resolve(h);
    }

    /**
     * Stores an encoded chunk under its id: temporary name, then rename (replacing a chunk file an interrupted
     * backup may have left torn). Not durable until {@link #syncAll}.
     */
    public void writeChunk(ChunkId id, byte[] blob) throws IOException {
        Path target = chunkPath(id);
        Path tmp = target.resolveSibling(target.getFileName() + "." + Long.toHexString(
                ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            writeNew(tmp, blob);
        } catch (NoSuchFileException e) {
            makeDirectory(target.getParent());
            writeNew(tmp, blob);
        }
        storage.rename(tmp, target);
    }

    /**
     * Reads and decodes a chunk into {@code dst} (at least {@link #chunkSize} bytes) and checks that it hashes
     * to its id. Returns the chunk's length.
     */
    public int readChunk(ChunkId id, byte[] dst) throws IOException {
        byte[] blob;
        try {
            blob = storage.readAll(chunkPath(id));
        } catch (NoSuchFileException e) {
            throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "chunk " + id + " is missing");
        }
        String name = "chunk " + id.hex();
        if (blob.length >= BlobCodec.HEADER && BlobCodec.plainLength(blob) > config.chunkSize()) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: longer than a chunk");
        }
        byte[] plain = codec.decode(BlobCodec.CHUNK, blob, blob.length, name, dst);
        int n = BlobCodec.plainLength(blob);
        if (plain != dst) {
            System.arraycopy(plain, 0, dst, 0, n);
        }
        if (!keys().chunkId(dst, 0, n).equals(id)) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: its content does "
                    + "not hash to its name");
        }
        return n;
    }

    public long chunkFileSize(ChunkId id) throws IOException {
        try (StorageFile f = storage.open(chunkPath(id), OpenMode.READ)) {
            return f.size();
        } catch (NoSuchFileException e) {
            return -1;
        }
    }

    /** Removes a chunk file; true if it was there. Durable on return. */
    public boolean deleteChunk(ChunkId id) throws IOException {
        Path p = chunkPath(id);
        if (!storage.exists(p)) {
            return false;
        }
        storage.delete(p);
        return true;
    }

    /** Every chunk file (and leftover temporary file) in the store; {@code tmp} receives the latter. */
    public void forEachChunkFile(Consumer<ChunkId> chunk, Consumer<Path> leftover) throws IOException {
        Path chunks = root.resolve("chunks");
        for (String dn : storage.list(chunks)) {
            Path d = chunks.resolve(dn);
            if (!storage.isDirectory(d)) {
                leftover.accept(d);
                continue;
            }
            for (String fn : storage.list(d)) {
                ChunkId id = ChunkId.parse(fn);
                if (id != null && !id.isZero()) {
                    chunk.accept(id);
                } else {
                    leftover.accept(d.resolve(fn));
                }
            }
        }
    }

    // ------------------------------------------------------------------ the repository's files, through storage

    /** syncfs of the repository's file system: every chunk and file written and renamed so far is durable. */
    public void syncAll() throws IOException {
        storage.syncFileSystem(root);
    }

    /** Writes a new file of the repository (mode 0600), not synced; fails if it exists. */
    public void writeNew(Path p, byte[] data) throws IOException {
        writeNew(storage, p, data);
    }

    private static void writeNew(Storage storage, Path p, byte[] data) throws IOException {
        try (StorageFile f = storage.open(p, OpenMode.CREATE_NEW); Arena arena = Arena.ofConfined()) {
            if (data.length > 0) {
                MemorySegment s = arena.allocate(data.length);
                MemorySegment.copy(data, 0, s, ValueLayout.JAVA_BYTE, 0, data.length);
                f.write(0, s);
            }
        }
    }

    /** Reads a whole file of the repository. */
    public byte[] read(Path p) throws IOException {
        return storage.readAll(p);
    }

    /** Publishes a file durably and privately: temporary name (0600), fsync, rename, fsync of the directory. */
    public void publish(Path file, byte[] data) throws IOException {
        storage.publish(file, data);
    }

    /** Creates a directory of the repository (mode 0700, with any missing parents). */
    public void makeDirectory(Path dir) throws IOException {
        makeDirectory(storage, dir);
    }

    private static void makeDirectory(Storage storage, Path dir) throws IOException {
        if (storage instanceof LocalStorage) {
            Files.createDirectories(dir, PRIVATE_DIR); // modes are the real file system's
            return;
        }
        storage.createDirectories(dir);
    }

    /**
     * Removes a directory tree, files first and {@code last} (a marker, or null) after them, then the directories;
     * what cannot be removed is left for garbage collection.
     */
    public void deleteTree(Path dir, String last) {
        try {
            if (!storage.isDirectory(dir)) {
                storage.delete(dir);
                return;
            }
            for (String n : storage.list(dir)) {
                Path p = dir.resolve(n);
                if (storage.isDirectory(p)) {
                    deleteTree(p, null);
                } else if (!n.equals(last)) {
                    storage.delete(p);
                }
            }
            if (last != null) {
                storage.delete(dir.resolve(last));
            }
            storage.delete(dir);
        } catch (IOException e) {
            // leftovers are removed by garbage collection
        }
    }

    @Override
    public String toString() {
        return "repository " + root;
    }
}
