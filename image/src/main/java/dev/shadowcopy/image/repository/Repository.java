package dev.shadowcopy.image.repository;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.Storage;
import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;

/**
 * A backup repository: {@code repository.json}, content-addressed chunks under {@code chunks/<3 hex>/<64 hex>},
 * backup points under {@code backups/<id>/}, kept by a {@link RepositoryBackend} — a directory (with work files
 * under {@code tmp/}) or an S3 bucket.
 *
 * <p>Durability: every object operation goes through the backend, whose contract says what is durable when (see
 * {@link RepositoryBackend}); a directory's goes through the engine's {@link Storage} seam, which the crash tests
 * replace by a simulated disk. A chunk is stored without a sync of its own; {@link #syncAll} before a backup point is
 * committed makes every chunk durable at once (see {@code BackupStore.Pending#commit} in {@code image.manifest}, the
 * layer above). In a directory a chunk file is trusted only when a committed backup names it: one left by an
 * interrupted backup may be torn, so a later backup writes it again rather than reuse it.
 *
 * <p>Concurrency: a directory is ordered by {@link RepositoryLock}; object storage has no lock, and the same
 * {@link #lock} call gives a {@link Lease} instead, which with the garbage collector's generation fence and
 * {@link #protect} makes concurrent backups, restores and collections safe (docs/backup.md).
 *
 * <p>Privacy: whatever the umask, a repository directory's subdirectories are created 0700 and its files 0600 (an
 * unencrypted repository holds the volumes' data in the clear); only its owner (root for the daemon's backups)
 * reads it.
 *
 * <p>Thread-safety: chunk reads and writes may run concurrently; callers hold a {@link RepositoryLock}.
 */
public final class Repository implements Closeable {
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

    private final RepositoryBackend backend;
    private final RepositoryConfig config;
    private final BlobCodec codec;
    private final Leases leases;

    private Repository(RepositoryBackend backend, RepositoryConfig config, Keys keys) {
        this.backend = backend;
        this.config = config;
        this.codec = new BlobCodec(keys, config.compressionLevel());
        this.leases = backend.lockFree() ? new Leases(this) : null;
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
        return init(new LocalBackend(storage, dir), o);
    }

    /**
     * Creates a repository in an empty directory or bucket prefix. For a directory the lock file and the
     * subdirectories come first and the config last, durably: a directory without it is not a repository yet.
     */
    public static Repository init(RepositoryBackend backend, InitOptions o) throws IOException {
        RepositoryConfig.checkChunkSize(o.chunkSize());
        if (o.compressionLevel() < -7 || o.compressionLevel() > 19) {
            throw new RepositoryException(RepositoryException.Code.INVALID, "zstd level must be between -7 and 19");
        }
        String where = backend.location();
        backend.makeDirectory("");
        if (!backend.list("").isEmpty()) {
            boolean repository = backend.exists(CONFIG);
            throw new RepositoryException(repository ? RepositoryException.Code.EXISTS
                    : RepositoryException.Code.INVALID, where + (repository ? " is already a repository"
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
        Path dir = backend.directory();
        if (dir != null && backend instanceof LocalBackend l && l.storage() instanceof LocalStorage) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------")); // it may have existed
        }
        if (!backend.lockFree()) {
            for (String d : new String[] {"chunks", "backups", "tmp"}) {
                backend.makeDirectory(d);
            }
            backend.writeNew(RepositoryLock.FILE, new byte[0]);
        }
        // The config goes last and durably: a directory without it is not a repository yet.
        backend.publish(CONFIG, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(cfg));
        return new Repository(backend, cfg, keys);
    }

    /** Opens an existing repository on the real file system; {@code passphrase} may be null for an unencrypted one. */
    public static Repository open(Path dir, char[] passphrase) throws IOException {
        return open(LocalStorage.INSTANCE, dir, passphrase);
    }

    /** Opens an existing repository on {@code storage}; {@code passphrase} may be null for an unencrypted one. */
    public static Repository open(Storage storage, Path dir, char[] passphrase) throws IOException {
        return open(new LocalBackend(storage, dir), passphrase);
    }

    /** Opens an existing repository; {@code passphrase} may be null for an unencrypted one. */
    public static Repository open(RepositoryBackend backend, char[] passphrase) throws IOException {
        String where = backend.location();
        RepositoryConfig cfg;
        try {
            cfg = JSON.readValue(backend.read(CONFIG), RepositoryConfig.class);
        } catch (NoSuchFileException e) {
            throw new RepositoryException(RepositoryException.Code.NOT_A_REPOSITORY, where + " is not a backup "
                    + "repository (no " + CONFIG + "); create one with `shadowcopy backups init --repo " + where + "`");
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, where + "/" + CONFIG + " is damaged: "
                    + e.getOriginalMessage());
        }
        if (cfg.format() != RepositoryConfig.FORMAT || cfg.id() == null) {
            throw new RepositoryException(RepositoryException.Code.NOT_A_REPOSITORY, where + " has repository format "
                    + cfg.format() + "; this version reads format " + RepositoryConfig.FORMAT);
        }
        RepositoryConfig.checkChunkSize(cfg.chunkSize());
        Keys keys = Keys.plain();
        if (cfg.encryption() != null) {
            if (passphrase == null) {
                throw new RepositoryException(RepositoryException.Code.PASSPHRASE_REQUIRED, "repository " + where
                        + " is encrypted: give its passphrase (--passphrase-file or SHADOWCOPY_PASSPHRASE)");
            }
            keys = Keys.unlock(cfg.encryption(), passphrase, cfg.id());
        } else if (passphrase != null) {
            throw new RepositoryException(RepositoryException.Code.INVALID, "repository " + where + " is not encrypted, "
                    + "but a passphrase was given (--passphrase-file or SHADOWCOPY_PASSPHRASE); it would protect "
                    + "nothing here. Give no passphrase for this repository, or back up into a new one, which the "
                    + "passphrase then encrypts");
        }
        if (!backend.lockFree()) {
            for (String d : new String[] {"chunks", "backups", "tmp"}) {
                backend.makeDirectory(d);
            }
            if (!backend.exists(RepositoryLock.FILE)) {
                backend.writeNew(RepositoryLock.FILE, new byte[0]);
            }
        }
        return new Repository(backend, cfg, keys);
    }

    public RepositoryBackend backend() {
        return backend;
    }

    /** A directory, or {@code s3://bucket/prefix}: for messages and commands to suggest. */
    public String location() {
        return backend.location();
    }

    /** True when no lock orders the repository's users (object storage): see {@link RepositoryBackend#lockFree}. */
    public boolean lockFree() {
        return backend.lockFree();
    }

    /** Where work files live (the real file system, or a simulated disk in tests). */
    public Storage storage() {
        return backend.workStorage();
    }

    /** The repository's directory, or null for object storage. */
    public Path root() {
        return backend.directory();
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

    /** Work files of this process (overlays of {@code backups serve}), always on a local disk. */
    public Path tmpDir() {
        return backend.workDir();
    }

    /**
     * The repository lock. A directory: a POSIX record lock (on a simulated disk, only the threads of this process are
     * ordered, the record lock needing a real file). Object storage: no lock at all but a {@link Lease}, which tells a
     * concurrent garbage collection that this operation may hold references to chunks; both modes are the same there.
     */
    public RepositoryLock lock(RepositoryLock.Mode mode, Duration wait, String purpose) throws IOException {
        if (leases != null) {
            return RepositoryLock.leased(mode, leases.take(purpose));
        }
        return RepositoryLock.acquire(root(), mode, wait, purpose, backend instanceof LocalBackend l
                && l.storage() instanceof LocalStorage);
    }

    /**
     * For a reader that takes no lock in a directory (export, serve): nothing there; on object storage the lease that
     * keeps a garbage collection from sweeping what it reads. Close it when done.
     */
    public Closeable readLease(String purpose) throws IOException {
        if (leases == null) {
            return () -> { };
        }
        return leases.take(purpose);
    }

    /**
     * Says that this operation relies on these chunks staying (they are named by a backup point it read). In a
     * directory the lock already guarantees it. On object storage a chunk that the pending garbage collection
     * generation marked is claimed in this operation's lease before anything relies on it; if that collection's sweep
     * had already begun, this waits for it to end and returns those of the chunks that are no longer there (an empty
     * set otherwise: every chunk given stays while this operation's lease lives).
     */
    public Set<ChunkId> protect(Collection<ChunkId> chunks) throws IOException {
        return leases == null ? Set.of() : leases.protect(chunks);
    }

    /** Fails when a lease of this object may have lapsed (object storage; see {@link Lease#check}). */
    public void checkLeases() throws RepositoryException {
        if (leases != null) {
            leases.check();
        }
    }

    /** The id of this object's live lease (object storage), for a backup directory's marker; null otherwise. */
    public String currentLease() {
        return leases == null ? null : leases.currentId();
    }

    /** The live leases of this repository object (object storage), for a garbage collection to leave out. */
    public Leases leases() {
        return leases;
    }

    // ------------------------------------------------------------------ chunks

    /**
     * Stores an encoded chunk under its id. Not durable until {@link #syncAll}. Returns false when the store already
     * had a whole object of that name (object storage only): nothing was uploaded.
     */
    public boolean writeChunk(ChunkId id, byte[] blob) throws IOException {
        if (leases != null && leases.fenced(id)) {
            // marked by the pending collection: claimed before the store is asked whether it has it, so that the sweep
            // either sees the claim or has ended (and then the look below sees what it left)
            leases.protect(List.of(id));
        }
        return backend.writeChunk(id, blob);
    }

    static String chunkKey(ChunkId id) {
        String h = id.hex();
        return "chunks/" + h.substring(0, 3) + "/" + h;
    }

    /**
     * {@link #writeChunk(ChunkId, byte[])} of an encoded chunk held in native memory ({@code blob[0, length)}), with
     * no copy on the Java heap in a directory, whose write-back starts at once (see {@link LocalBackend}). Not
     * durable until {@link #syncAll}.
     */
    public boolean writeChunk(ChunkId id, MemorySegment blob, long length) throws IOException {
        if (leases != null && leases.fenced(id)) {
            leases.protect(List.of(id)); // as in writeChunk(ChunkId, byte[])
        }
        return backend.writeChunk(id, blob, length);
    }

    /**
     * Reads and decodes a chunk into {@code dst} (native, at least {@link #chunkSize} bytes) through {@code scratch}
     * (native, at least {@link BlobCodec#maxBlob}({@link #chunkSize}) bytes), and checks that it is the chunk of that
     * name (authenticated by its encryption, or hashed to its name when the repository is not encrypted).
     * Returns the chunk's length. No copy on the Java heap: the restore's hot path.
     */
    public int readChunk(ChunkId id, MemorySegment dst, MemorySegment scratch) throws IOException {
        String name = "chunk " + id.hex();
        long size;
        try {
            size = backend.readChunk(id, scratch);
        } catch (NoSuchFileException e) {
            throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "chunk " + id + " is missing");
        }
        if (BlobCodec.plainLength(scratch, size) > config.chunkSize()) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: longer than a chunk");
        }
        int n = codec.decode(BlobCodec.CHUNK, scratch, (int) size, name, dst);
        // Encrypted, the decode has proven the content already: AES-GCM's tag covers it, and its associated data is
        // the chunk's name, so only the holder of the key can have written these bytes under this name (and a blob
        // that is not encrypted is refused). Re-hashing (HMAC-SHA256, the restore's largest cost) would add nothing
        // but a check of the writer's own arithmetic, which verify still does. Unencrypted, a CRC32C is all the
        // decode checks, so the content is hashed against its name.
        if (!keys().encrypted() && !keys().chunkId(dst, n).equals(id)) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: its content does "
                    + "not hash to its name");
        }
        return n;
    }

    /**
     * Reads and decodes a chunk into {@code dst} (at least {@link #chunkSize} bytes) and checks that it hashes
     * to its id. Returns the chunk's length.
     */
    public int readChunk(ChunkId id, byte[] dst) throws IOException {
        byte[] blob;
        try {
            blob = backend.readChunk(id);
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
        return backend.chunkFileSize(id);
    }

    /** Removes a chunk file; true if it was there. Durable on return. */
    public boolean deleteChunk(ChunkId id) throws IOException {
        return backend.deleteChunks(List.of(id)) > 0;
    }

    /** Every chunk in the store; {@code leftover} receives the keys of anything else among them. */
    public void forEachChunkFile(Consumer<ChunkId> chunk, Consumer<String> leftover) throws IOException {
        backend.forEachChunkFile(chunk, leftover);
    }

    // ------------------------------------------------------------------ the repository's other objects

    /** Every write so far is durable on return (a directory: syncfs; object storage: every upload acknowledged). */
    public void syncAll() throws IOException {
        backend.barrier();
    }

    /** Writes a new object of the repository (a directory: file mode 0600, not synced, fails if it exists). */
    public void writeNew(String key, byte[] data) throws IOException {
        backend.writeNew(key, data);
    }

    /** Reads a whole object. */
    public byte[] read(String key) throws IOException {
        return backend.read(key);
    }

    /** Publishes an object durably and privately (a directory: temporary name, fsync, rename, fsync of the directory). */
    public void publish(String key, byte[] data) throws IOException {
        backend.publish(key, data);
    }

    /** Creates a directory of the repository (mode 0700, with any missing parents; object storage: nothing). */
    public void makeDirectory(String dir) throws IOException {
        backend.makeDirectory(dir);
    }

    /**
     * Removes a directory tree, objects first and {@code last} (a marker, or null) after them, then the directories;
     * what cannot be removed is left for garbage collection.
     */
    public void deleteTree(String dir, String last) {
        try {
            if (!backend.isDirectory(dir)) {
                backend.delete(dir);
                return;
            }
            for (String n : backend.list(dir)) {
                String k = dir + "/" + n;
                if (backend.isDirectory(k)) {
                    deleteTree(k, null);
                } else if (!n.equals(last)) {
                    backend.delete(k);
                }
            }
            if (last != null) {
                backend.delete(dir + "/" + last);
            }
            if (!backend.lockFree()) {
                backend.delete(dir);
            }
        } catch (IOException e) {
            // leftovers are removed by garbage collection
        }
    }

    /** Ends this object's leases (object storage) and lets go of the backend's connections. */
    @Override
    public void close() throws IOException {
        if (leases != null) {
            leases.closeAll();
        }
        backend.close();
    }

    @Override
    public String toString() {
        return "repository " + location();
    }
}
