package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.HeldRepositoryLock;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.image.restore.LiveRestore;
import dev.shadowcopy.image.restore.RepositoryDevice;
import dev.shadowcopy.image.restore.ServeOverlay;
import dev.shadowcopy.nbd.export.DeviceExport;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.ops.LiveVolumes;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Live restores ({@code restore … --to volume:NAME --live}): volume NAME is usable at once — attach, NBD — while a
 * backup point is copied into it in the background; reads of what is not copied yet come from the repository, writes
 * go to the volume ({@link LiveRestore}). When every chunk is in place NAME is an ordinary volume.
 *
 * <p><b>State and its durability order.</b> Start: the target is marked incomplete in its {@code volume.desc}
 * (durable; a new volume is created with the mark), then {@code STATE/migrations/NAME/migration.json} is published
 * ({@link MigrationRecord}) with the live restore's progress beside it (an empty published map), and only then is the
 * volume served. End: the progress is published complete, the mark is removed, then the record and the progress files.
 * A crash between any two steps leaves a state the next start reads: a mark without a record is an interrupted restore
 * (refused, as for an ordinary restore), a record beside an unmarked volume is a finished one (its files removed).
 *
 * <p><b>Restarts.</b> At start ({@link #resume}, before attached volumes are taken over) every record is opened again:
 * the repository (with the recorded passphrase), the progress as the last boot left it ({@code PresentMap}), the
 * volume's device; the take-over then serves attached volumes through it, so a guest's I/O across a kill -9 of the
 * daemon pauses and resumes and loses no acknowledged write. The copy resumes once NBD is up ({@link #serve}).
 *
 * <p>While a volume is restored live it is refused for shadow copies, backups, restores and deletion (its content is
 * part volume, part backup); attach and NBD serve it through the restore. The repository's shared lock is held for the
 * restore's life, so a prune cannot remove a chunk it still needs.
 *
 * <p>Locking: {@link #running} is a concurrent map; a start reserves its target name and registers the restore under
 * this object's lock (its repository I/O runs outside it); finishing and stopping one restore are serialised on
 * this object; copies run on their own threads and only call {@link #finish} and {@link #failed}.
 */
public final class Migrations implements LiveVolumes, AutoCloseable {
    private static final Duration LOCK_WAIT = Duration.ofSeconds(30);

    private final Path dir;
    private final VolumeManager engine;
    private final EventLog events;
    private final Storage storage = LocalStorage.INSTANCE;
    private final Map<String, Migration> running = new ConcurrentHashMap<>();
    /** Live restores that finished since the daemon started (for the requester still watching one). */
    private final Map<String, Instant> finished = new ConcurrentHashMap<>();
    private VolumeExports exports;
    private boolean closed;
    /** Targets of restores being started (outside this object's lock), so that two starts of one never race. */
    private final java.util.Set<String> starting = new java.util.HashSet<>();

    public Migrations(Path state, VolumeManager engine, EventLog events) {
        this.dir = state.resolve("migrations");
        this.engine = engine;
        this.events = events;
    }

    /** A new live restore: restore {@code volume} of {@code backup} into volume {@code target}. */
    public record Request(String repository, char[] passphrase, String backup, String volume, String target,
                          Path overlay, Path socket, String export, int rateMbps) {}

    /** How one live restore stands. */
    public record Status(String volume, String from, long bytesInPlace, long bytes, boolean complete, String problem) {}

    // ---------------------------------------------------------------- LiveVolumes

    @Override
    public Optional<BlockDevice> device(String volume) {
        Migration m = running.get(volume);
        return m == null ? Optional.empty() : Optional.of(m.live);
    }

    @Override
    public Optional<State> state(String volume) {
        Migration m = running.get(volume);
        if (m == null) {
            return Optional.empty();
        }
        LiveRestore.Progress p = m.live.progress();
        return Optional.of(new State(m.record.from(), p.bytesInPlace(), p.sourceSize(), m.problem()));
    }

    /** How the live restore into {@code volume} stands; {@code OBJECT_NOT_FOUND} if there is none and was none. */
    public Status status(String volume) throws ServiceException {
        Migration m = running.get(volume);
        if (m != null) {
            LiveRestore.Progress p = m.live.progress();
            return new Status(volume, m.record.from(), p.bytesInPlace(), p.sourceSize(), false, m.problem());
        }
        if (finished.containsKey(volume)) {
            return new Status(volume, null, 0, 0, true, null);
        }
        throw new ServiceException(VssError.OBJECT_NOT_FOUND, "no live restore into volume " + volume);
    }

    public List<Status> list() {
        List<Status> out = new ArrayList<>();
        for (String v : running.keySet()) {
            try {
                out.add(status(v));
            } catch (ServiceException gone) {
                // finished meanwhile
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- start

    /**
     * Starts a live restore; the volume is usable (attach, NBD) when this returns, and filled in the background.
     * The target is a new volume of the backup's size, or an existing one that is large enough and not attached.
     */
    public Status start(Volumes volumes, Request req) throws IOException {
        synchronized (this) {
            if (closed) {
                throw new ServiceException(VssError.BAD_STATE, "the service is stopping");
            }
            if (running.containsKey(req.target()) || !starting.add(req.target())) {
                throw new ServiceException(VssError.BAD_STATE, "volume " + req.target() + " is already being "
                        + "restored live");
            }
        }
        try {
            return startReserved(volumes, req);
        } finally {
            synchronized (this) {
                starting.remove(req.target());
            }
        }
    }

    /**
     * The start of a restore whose target name is reserved. Not under this object's lock: opening the repository,
     * waiting for its lock and reading the point may take long (a slow or stuck repository), and the other restores'
     * ends and the daemon's stop must not wait for it. Only the registration is serialised.
     */
    private Status startReserved(Volumes volumes, Request req) throws IOException {
        Repository repo = RepositoryAccess.open(req.repository(), req.passphrase());
        // released by the copy thread that finishes the restore: held by a thread of its own
        HeldRepositoryLock lock = HeldRepositoryLock.acquire(repo, RepositoryLock.Mode.SHARED, LOCK_WAIT,
                "the live restore into " + req.target());
        ServeOverlay overlay = null;
        ManagedVolume target = null;
        boolean created = false;
        boolean marked = false;
        try {
            String id = BackupStore.of(repo).resolve(req.backup());
            Manifest m = BackupStore.of(repo).manifest(id);
            Manifest.VolumeEntry v = m.volume(req.volume());
            if (v == null) {
                throw new ServiceException(VssError.OBJECT_NOT_FOUND, "backup " + id + " has no volume " + req.volume());
            }
            BlockDevice source = new RepositoryDevice(repo, m, v);
            if (req.overlay() != null) {
                overlay = ServeOverlay.open(req.overlay(), source, repo.config().id(), id, v.name());
                source = overlay.device();
            }
            Optional<ManagedVolume> existing = volumes.find(req.target());
            String restoreCmd = "shadowcopy restore " + id + " --volume " + v.name() + " --repo " + req.repository()
                    + " --to volume:" + req.target() + (req.passphrase() != null ? " --passphrase-file FILE" : "");
            String why = "a live restore of volume " + v.name() + " of backup " + id + " from repository "
                    + req.repository() + " into it, started " + Instant.now() + ", could not be resumed. Run the "
                    + "restore again (" + restoreCmd + "), or delete the volume (shadowcopy volume delete "
                    + req.target() + ")";
            if (existing.isEmpty()) {
                target = volumes.create(VolumeConfig.sparse(req.target(), (v.size() + 511) / 512 * 512), why);
                created = true;
            } else {
                target = existing.get();
                if (volumes.attachment(target.name()).isPresent()) {
                    throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + target.name() + " is attached as "
                            + volumes.attachment(target.name()).get().loopDevice() + "; a restore replaces its data: "
                            + "unmount it and detach it first (shadowcopy volume detach " + target.name() + ")");
                }
                Volumes.requireComplete(target, "restored into live");
                if (target.size() < v.size()) {
                    throw new ServiceException(VssError.INVALID_ARGUMENT, "volume " + target.name() + " has "
                            + target.size() + " bytes; volume " + v.name() + " of backup " + id + " needs " + v.size()
                            + " (restore into a new volume instead)");
                }
                target.markIncomplete(why); // durable before anything else
            }
            marked = true;
            MigrationRecord rec = new MigrationRecord(MigrationRecord.FORMAT, target.name(), target.id().toString(),
                    req.repository(), repo.config().id(), id, v.name(), v.size(), repo.chunkSize(),
                    Instant.now().toString(), req.passphrase() == null ? null : new String(req.passphrase()),
                    overlay == null ? null : overlay.path().toString(),
                    req.socket() == null ? null : req.socket().toAbsolutePath().toString(), req.export(),
                    Math.max(0, req.rateMbps()));
            Path home = dir.resolve(target.name());
            deleteDirectory(home); // a leftover of an earlier restore into a volume of this name
            LiveRestore live = LiveRestore.start(target, source, storage, home, repo.chunkSize(), bootId(),
                    "volume " + target.name() + " (restored live)");
            rec.publish(home); // after the empty progress: a record always has its map
            Migration mig = new Migration(rec, target, live, repo, lock, overlay);
            synchronized (this) {
                if (closed) { // its record is published: it resumes when the daemon starts again
                    throw new ServiceException(VssError.BAD_STATE, "the service is stopping");
                }
                running.put(target.name(), mig);
                finished.remove(target.name());
                serveOne(mig);
            }
            events.append("migration-started", "info", "volume " + target.name() + " is usable now and restored live "
                    + "from " + rec.from() + (created ? " (new volume)" : ""), Map.of("volume", target.name(),
                    "backup", id));
            return status(target.name());
        } catch (IOException | RuntimeException | Error e) { // an Error too: the lock's thread must not outlive it
            running.remove(req.target());
            if (overlay != null) {
                overlay.close();
            }
            lock.close();
            repo.close();
            if (created) {
                try {
                    engine.delete(target.name(), true);
                } catch (IOException | RuntimeException undo) {
                    e.addSuppressed(undo);
                }
            } else if (marked && target != null && !Files.exists(dir.resolve(target.name()).resolve(
                    MigrationRecord.FILE))) {
                target.markComplete(); // nothing was written to it yet
            }
            if (e instanceof RepositoryException re) {
                throw RepositoryAccess.translate(re);
            }
            throw e;
        }
    }

    private static UUID bootId() throws IOException {
        return UUID.fromString(Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim());
    }

    // ---------------------------------------------------------------- restart

    /**
     * Opens every recorded live restore again (at start, before attached volumes are taken over). A restore that
     * cannot be opened is reported; its volume stays marked and refused, with the remedy in the mark.
     */
    public synchronized void resume() throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        List<Path> homes;
        try (Stream<Path> s = Files.list(dir)) {
            homes = s.filter(Files::isDirectory).toList();
        }
        for (Path home : homes) {
            String name = home.getFileName().toString();
            if (!Files.exists(home.resolve(MigrationRecord.FILE))) {
                deleteDirectory(home); // made and never recorded, or already finished: nothing to go on with
                continue;
            }
            try {
                MigrationRecord rec = MigrationRecord.read(home);
                Optional<ManagedVolume> v = engine.find(rec.volume());
                if (v.isEmpty() || !v.get().id().toString().equals(rec.volumeId())) {
                    events.append("migration-dropped", "warning", "the live restore into volume " + rec.volume()
                            + " was dropped: the volume no longer exists", Map.of("volume", rec.volume()));
                    deleteDirectory(home);
                    continue;
                }
                if (v.get().incomplete() == null) {
                    deleteDirectory(home); // it finished just before the stop
                    continue;
                }
                open(rec, v.get(), home);
                events.append("migration-resumed", "info", "the live restore into volume " + rec.volume() + " goes on ("
                        + running.get(rec.volume()).live.progress().bytesInPlace() + " of " + rec.size()
                        + " bytes in place)", Map.of("volume", rec.volume()));
            } catch (IOException | RuntimeException e) {
                events.append("migration-resume-failed", "error", "the live restore into volume " + name + " cannot go "
                        + "on: " + e.getMessage() + "; the volume stays refused until the restore is run again or it "
                        + "is deleted", Map.of("volume", name));
            }
        }
    }

    private void open(MigrationRecord rec, ManagedVolume target, Path home) throws IOException {
        Repository repo = RepositoryAccess.open(rec.repository(), rec.passphrase() == null ? null
                : rec.passphrase().toCharArray());
        if (!repo.config().id().equals(rec.repositoryId())) {
            repo.close();
            throw new IOException("the repository at " + rec.repository() + " is not the one the restore read (id "
                    + repo.config().id() + ", not " + rec.repositoryId() + ")");
        }
        HeldRepositoryLock lock = HeldRepositoryLock.acquire(repo, RepositoryLock.Mode.SHARED, LOCK_WAIT,
                "the live restore into " + rec.volume());
        ServeOverlay overlay = null;
        try {
            Manifest m = BackupStore.of(repo).manifest(rec.backup());
            Manifest.VolumeEntry v = m.volume(rec.sourceVolume());
            if (v == null) {
                throw new IOException("backup " + rec.backup() + " has no volume " + rec.sourceVolume());
            }
            BlockDevice source = new RepositoryDevice(repo, m, v);
            if (rec.overlay() != null) {
                overlay = ServeOverlay.open(Path.of(rec.overlay()), source, rec.repositoryId(), rec.backup(),
                        rec.sourceVolume());
                source = overlay.device();
            }
            LiveRestore live = LiveRestore.resume(target, source, storage, home, rec.chunkSize(), bootId(),
                    "volume " + rec.volume() + " (restored live)");
            running.put(rec.volume(), new Migration(rec, target, live, repo, lock, overlay));
        } catch (IOException | RuntimeException | Error e) {
            if (overlay != null) {
                overlay.close();
            }
            lock.close();
            repo.close();
            throw e;
        }
    }

    /** NBD is up: every live restore is served (its export, a taken-over socket) and its copy goes on. */
    public synchronized void serve(VolumeExports nbd) {
        this.exports = nbd;
        for (Migration m : List.copyOf(running.values())) {
            try {
                serveOne(m);
            } catch (IOException | RuntimeException e) {
                failed(m, e);
            }
        }
    }

    private void serveOne(Migration m) throws IOException {
        String name = m.record.volume();
        if (exports != null) {
            // ahead of the plain volume, which is marked and refused while it is filled
            exports.addExport(name, m.description(), () -> new DeviceExport(name, m.description(), m.live));
        }
        m.serveTakenOverSocket();
        m.startCopying(this::finish, e -> failed(m, e));
    }

    // ---------------------------------------------------------------- end

    /**
     * Every chunk is in place: the progress published complete, the mark removed (from now on an ordinary volume),
     * then the record and the progress files. A device attached through the restore passes through to the volume.
     */
    private synchronized void finish(Migration m) {
        String name = m.record.volume();
        if (running.get(name) != m) {
            return; // stopped, or finished by the other copy thread
        }
        try {
            m.live.finish();
            m.target.markComplete(); // the volume is whole and durable: an ordinary volume from here
            Path home = dir.resolve(name);
            storage.delete(home.resolve(MigrationRecord.FILE));
            LiveRestore.deleteProgress(storage, home);
            deleteDirectory(home);
            running.remove(name);
            finished.put(name, Instant.now());
            if (exports != null) {
                exports.removeExport(name); // new connections get the volume itself
            }
            Path overlay = m.overlayPath();
            m.releaseSource();
            if (overlay != null) {
                ServeOverlay.delete(overlay); // its writes are in the volume now
            }
            events.append("migration-complete", "info", "volume " + name + " is restored (" + m.record.from()
                    + "); it is an ordinary volume now" + (overlay == null ? "" : "; the overlay " + overlay
                    + " was moved into it and removed"), Map.of("volume", name, "backup", m.record.backup()));
        } catch (IOException | RuntimeException e) {
            failed(m, e);
        }
    }

    private void failed(Migration m, Exception e) {
        events.append("migration-failed", "error", "the live restore into volume " + m.record.volume() + " stopped: "
                + e.getMessage() + "; it goes on when the daemon starts again", Map.of("volume", m.record.volume()));
    }

    /** The daemon stops: every copy stops and publishes its progress; everything resumes at the next start. */
    @Override
    public synchronized void close() {
        closed = true;
        for (Migration m : running.values()) {
            m.stopCopying();
        }
        for (Migration m : running.values()) {
            try {
                m.close();
            } catch (IOException | RuntimeException e) {
                events.append("migration-failed", "error", "closing the live restore into volume " + m.record.volume()
                        + ": " + e.getMessage(), Map.of("volume", m.record.volume()));
            }
        }
        running.clear();
    }

    private void deleteDirectory(Path home) throws IOException {
        if (!Files.isDirectory(home)) {
            return;
        }
        try (Stream<Path> s = Files.list(home)) {
            for (Path p : s.toList()) {
                storage.delete(p);
            }
        }
        storage.delete(home);
    }
}
