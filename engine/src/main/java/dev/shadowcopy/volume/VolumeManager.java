package dev.shadowcopy.volume;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * The managed volumes of one state directory ({@code <state>/volumes}). Opening it opens every volume
 * (recovering each from its journal); it is locked against a second process for as long as it is open.
 *
 * <p>Layout: {@code volumes/<name>/volume.desc} ({@link VolumeDescriptor}), {@code volumes/<name>/meta/}
 * (journal generations and checkpoint), {@code volumes/<name>/data.img} (sparse backing) and
 * {@code volumes/<name>/shadow-storage.dat} (shadow storage, unless placed elsewhere).
 *
 * <p>Engines come from an {@link EngineFactory} (by the volume's layout): this package knows no provider.
 *
 * <p>Locking: create, delete and resize run under the manager's monitor; lookups are lock-free.
 */
public final class VolumeManager implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(VolumeManager.class.getName());
    private static final String DATA_FILE = "data.img";
    private static final String META_DIR = "meta";
    private static final String DIFF_FILE = "shadow-storage.dat";

    private final Storage storage;
    private final Path root;
    private final VolumeEvents events;
    private final Tuning tuning;
    private final EngineFactory engines;
    private final ConcurrentSkipListMap<String, ManagedVolume> volumes = new ConcurrentSkipListMap<>();
    private final FileChannel lockChannel;
    private boolean closed;

    /**
     * Engine tuning.
     *
     * @param checkpointBytes   journal bytes after which a checkpoint is written
     * @param inlineCheckpoints write checkpoints and prepare shadow storage on the calling thread (deterministic
     *                          tests) instead of in the background
     * @param prepareAheadBytes free shadow storage kept zero-filled ahead of need
     * @param intentRegionBytes copy-on-write write-intent granularity ({@link EngineOptions})
     */
    public record Tuning(long checkpointBytes, boolean inlineCheckpoints, long prepareAheadBytes,
                         long intentRegionBytes) {
        public static final Tuning DEFAULT = new Tuning(EngineOptions.DEFAULT_CHECKPOINT_BYTES, false,
                EngineOptions.DEFAULT_PREPARE_AHEAD_BYTES);

        public Tuning {
            if (checkpointBytes < 1 || prepareAheadBytes < 0 || intentRegionBytes < 1) {
                throw new IllegalArgumentException("checkpointBytes and intentRegionBytes must be positive and "
                        + "prepareAheadBytes >= 0, were " + checkpointBytes + ", " + intentRegionBytes + ", "
                        + prepareAheadBytes);
            }
        }

        public Tuning(long checkpointBytes, boolean inlineCheckpoints, long prepareAheadBytes) {
            this(checkpointBytes, inlineCheckpoints, prepareAheadBytes, EngineOptions.DEFAULT_INTENT_REGION_BYTES);
        }

        /** Small, deterministic maintenance for tests on a simulated disk (intent regions of a few chunks). */
        public static Tuning inline(long checkpointBytes) {
            return new Tuning(checkpointBytes, true, 256 << 10, 16 << 10);
        }
    }

    private VolumeManager(Storage storage, Path root, VolumeEvents events, Tuning tuning, EngineFactory engines,
                          FileChannel lockChannel) {
        this.storage = storage;
        this.root = root;
        this.events = events;
        this.tuning = tuning;
        this.engines = engines;
        this.lockChannel = lockChannel;
    }

    /** Opens the volumes under {@code dir} on the real file system, with the installed providers. */
    public static VolumeManager open(Path dir, VolumeEvents events) throws IOException {
        return open(LocalStorage.INSTANCE, dir, events, Tuning.DEFAULT, EngineFactory.installed());
    }

    /** Opens the volumes under {@code dir} on {@code storage}, with the installed providers. */
    public static VolumeManager open(Storage storage, Path dir, VolumeEvents events, Tuning tuning)
            throws IOException {
        return open(storage, dir, events, tuning, EngineFactory.installed());
    }

    /**
     * Opens the volumes under {@code dir} on {@code storage}, their engines made by {@code engines}. A volume whose
     * metadata is damaged is not opened: the error names it, and nothing is changed on disk.
     */
    public static VolumeManager open(Storage storage, Path dir, VolumeEvents events, Tuning tuning,
                                     EngineFactory engines) throws IOException {
        Path root = dir.toAbsolutePath();
        storage.createDirectories(root);
        FileChannel lockChannel = null;
        if (storage instanceof LocalStorage) {
            lockChannel = FileChannel.open(root.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = lockChannel.tryLock();
            if (lock == null) {
                lockChannel.close();
                throw new VolumeException(VolumeException.Code.VOLUME_IN_USE, root + " is in use by another "
                        + "Shadowcopy process (stop it first, or use another --state directory)");
            }
        }
        VolumeManager m = new VolumeManager(storage, root, events, tuning, engines, lockChannel);
        try {
            for (String name : storage.list(root)) {
                if (name.startsWith(".")) {
                    continue;
                }
                Path dirOfVolume = root.resolve(name);
                if (!storage.exists(dirOfVolume.resolve(VolumeDescriptor.FILE_NAME))) {
                    LOG.log(System.Logger.Level.WARNING, "removing {0}: a volume creation that did not finish",
                            dirOfVolume);
                    m.deleteTree(dirOfVolume);
                    continue;
                }
                VolumeDescriptor d = VolumeDescriptor.decode(dirOfVolume.resolve(VolumeDescriptor.FILE_NAME),
                        storage.readAll(dirOfVolume.resolve(VolumeDescriptor.FILE_NAME)));
                m.volumes.put(d.config().name(), m.openVolume(d));
            }
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }

    /** Sealed auto-recovery overlays of the volume's copies. */
    static final String RECOVERY_DIR = "recovery";

    private ManagedVolume openVolume(VolumeDescriptor d) throws IOException {
        VolumeConfig c = d.config();
        Path dir = root.resolve(c.name());
        Path originPath = c.backing() instanceof Backing.Existing e ? e.path() : dir.resolve(DATA_FILE);
        StorageFile origin = storage.open(originPath, OpenMode.READ_WRITE);
        try {
            long available = origin.size();
            if (available < c.size()) {
                throw new VolumeException(VolumeException.Code.CORRUPT, "volume " + c.name() + ": backing "
                        + originPath + " has " + available + " bytes, the volume needs " + c.size());
            }
            storage.createDirectories(dir.resolve(META_DIR));
            EngineFiles files = new EngineFiles(c.name(), d.id(), storage, dir.resolve(META_DIR), originPath, origin,
                    c.size(), c.chunkSize(), diffPath(c, d.id()));
            ManagedVolume v = new ManagedVolume(d, openEngine(c, files), storage, dir.resolve(RECOVERY_DIR),
                    dir.resolve(VolumeDescriptor.FILE_NAME));
            v.loadRecoveries();
            v.resumeInterrupted();
            return v;
        } catch (IOException | RuntimeException e) {
            origin.close();
            throw e;
        }
    }

    private VolumeEngine openEngine(VolumeConfig c, EngineFiles files) throws IOException {
        EngineOptions options = new EngineOptions(c.shadowStorage().resolve(c.size()), c.maxShadowCopies(),
                tuning.checkpointBytes(), tuning.inlineCheckpoints(), tuning.prepareAheadBytes(),
                tuning.intentRegionBytes());
        return engines.open(c.layout(), files, options, events);
    }

    private Path diffPath(VolumeConfig c, UUID id) {
        return c.shadowStorageDir() == null ? root.resolve(c.name()).resolve(DIFF_FILE)
                : c.shadowStorageDir().resolve(c.name() + "-" + id + ".diff");
    }

    /** Creates a volume; durable on return. */
    public ManagedVolume create(VolumeConfig requested) throws IOException {
        return create(requested, null);
    }

    /**
     * Creates a volume, marked incomplete for {@code incomplete} when not null (the volume and its mark appear
     * together: a restore into a new volume); durable on return.
     */
    public synchronized ManagedVolume create(VolumeConfig requested, String incomplete) throws IOException {
        checkOpen();
        if (volumes.containsKey(requested.name())) {
            throw new VolumeException(VolumeException.Code.OBJECT_ALREADY_EXISTS, "volume " + requested.name()
                    + " already exists");
        }
        Path dir = root.resolve(requested.name());
        if (storage.exists(dir)) {
            deleteTree(dir); // left by a creation that did not finish (no descriptor)
        }
        storage.createDirectories(dir.resolve(META_DIR));
        VolumeConfig config = requested;
        try {
            if (config.backing() instanceof Backing.Existing e) {
                try (StorageFile f = storage.open(e.path(), OpenMode.READ_WRITE)) {
                    long available = f.size();
                    if (config.size() == 0) {
                        if (available <= 0 || available % 512 != 0) {
                            throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, e.path() + " has "
                                    + available + " bytes; a volume needs a positive multiple of 512 (give --size)");
                        }
                        config = config.withSize(available);
                    } else if (available < config.size()) {
                        throw new VolumeException(VolumeException.Code.INVALID_ARGUMENT, e.path() + " has only "
                                + available + " bytes, less than the requested " + config.size());
                    }
                }
                for (ManagedVolume v : volumes.values()) {
                    if (v.config().backing().equals(config.backing())) {
                        throw new VolumeException(VolumeException.Code.VOLUME_IN_USE, e.path()
                                + " already backs volume " + v.name());
                    }
                }
            } else {
                try (StorageFile f = storage.open(dir.resolve(DATA_FILE), OpenMode.CREATE_NEW)) {
                    f.truncate(config.size());
                    f.sync();
                }
            }
            if (config.shadowStorageDir() != null) {
                storage.createDirectories(config.shadowStorageDir());
            }
            VolumeDescriptor d = new VolumeDescriptor(UUID.randomUUID(), config, Instant.now(), incomplete);
            storage.publish(dir.resolve(VolumeDescriptor.FILE_NAME), d.encode()); // the volume exists from here
            ManagedVolume v = openVolume(d);
            volumes.put(config.name(), v);
            return v;
        } catch (IOException | RuntimeException e) {
            try {
                deleteTree(dir);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    public Optional<ManagedVolume> find(String name) {
        return Optional.ofNullable(volumes.get(name));
    }

    public ManagedVolume get(String name) throws VolumeException {
        ManagedVolume v = volumes.get(name);
        if (v == null) {
            throw new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "no volume named " + name
                    + " (volume list shows the existing ones)");
        }
        return v;
    }

    /** All volumes, by name. */
    public List<ManagedVolume> list() {
        return new ArrayList<>(volumes.values());
    }

    /**
     * Deletes a volume with its shadow copies and metadata. An existing backing file or device is left
     * alone; a sparse backing made for the volume is removed. Refused while shadow copies exist unless
     * {@code force}.
     */
    public synchronized void delete(String name, boolean force) throws IOException {
        checkOpen();
        ManagedVolume v = get(name);
        int copies = v.shadowCopies().size();
        if (copies > 0 && !force) {
            throw new VolumeException(VolumeException.Code.VOLUME_IN_USE, "volume " + name + " has " + copies
                    + " shadow copies; delete them first, or force the deletion");
        }
        volumes.remove(name);
        v.close();
        Path dir = root.resolve(name);
        storage.delete(dir.resolve(VolumeDescriptor.FILE_NAME)); // the volume is gone from here
        if (v.config().shadowStorageDir() != null) {
            storage.delete(diffPath(v.config(), v.id()));
        }
        deleteTree(dir);
    }

    /**
     * Changes a volume's shadow storage maximum; copies are released if usage is above it, oldest first, except
     * the copies the owner keeps ({@link VolumeEvents#mayRelease}): a maximum below what those need is refused
     * with {@code INSUFFICIENT_STORAGE} before anything changes.
     */
    public synchronized void resizeShadowStorage(String name, ShadowStorageLimit limit) throws IOException {
        checkOpen();
        ManagedVolume v = get(name);
        long kept = v.engine().shadowStorageKept();
        if (limit.resolve(v.size()) < kept) {
            throw new VolumeException(VolumeException.Code.INSUFFICIENT_STORAGE, "shadow storage of volume " + name
                    + " cannot shrink to " + limit + ": protected shadow copies need " + Sizes.format(kept)
                    + " of it (their data would have to go); nothing was changed");
        }
        v.updateConfigDurably(v.config().withShadowStorage(limit));
        v.setShadowStorageLimit(limit.resolve(v.size()));
    }

    private void deleteTree(Path dir) throws IOException {
        if (!storage.exists(dir)) {
            return;
        }
        for (String name : storage.list(dir)) {
            Path p = dir.resolve(name);
            if (storage.isDirectory(p)) {
                deleteTree(p);
            } else {
                storage.delete(p);
            }
        }
        storage.delete(dir);
    }

    private void checkOpen() throws VolumeException {
        if (closed) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "the volume manager is closed");
        }
    }

    /** Closes every volume cleanly. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException first = null;
        for (ManagedVolume v : volumes.values()) {
            try {
                v.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        volumes.clear();
        if (lockChannel != null) {
            lockChannel.close();
        }
        if (first != null) {
            throw first;
        }
    }
}
