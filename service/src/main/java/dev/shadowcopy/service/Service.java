package dev.shadowcopy.service;

import dev.shadowcopy.nbd.attach.Attachment;
import dev.shadowcopy.nbd.attach.Exposer;
import dev.shadowcopy.nbd.attach.LocalAttacher;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.nbd.server.TlsCredentials;
import dev.shadowcopy.platform.NativeIOException;
import dev.shadowcopy.nbd.server.TlsMode;
import dev.shadowcopy.service.access.AccessConfig;
import dev.shadowcopy.service.access.NbdDoor;
import dev.shadowcopy.service.access.Peers;
import dev.shadowcopy.service.access.StateFiles;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.Reconciler;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.catalog.WriterRecord;
import dev.shadowcopy.service.sequence.Attributes;
import dev.shadowcopy.service.provider.BtrfsVolumes;
import dev.shadowcopy.service.sequence.AutoRecovery;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.FileSystemFreezer;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SessionManager;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.service.sequence.WriterStatus;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowStorageLimit;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeEvents;
import dev.shadowcopy.volume.VolumeException;
import dev.shadowcopy.volume.VolumeManager;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterCall;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.writer.WriterRegistry;
import dev.shadowcopy.writer.database.DatabaseWriterConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The shadow copy service: the engine, the catalog, writers, sessions and the NBD server behind one set of
 * operations, which the API exposes. Every operation either completes or throws a {@link ServiceException}
 * with the VSS error and a message that says what to do.
 */
public final class Service implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Service.class.getName());
    private static final int EFBIG = 27; // "File too large": a size beyond the file system's maximum file size

    private final DaemonConfig config;
    private final StateLock lock;
    private final EventLog events;
    private final VolumeManager volumes;
    private final Catalog catalog;
    private final WriterRegistry writers;
    private final SessionManager sessions = new SessionManager();
    private final FileSystemFreezer freezer;
    private final SnapshotSetCreator creator;
    private final VolumeExports exports;
    private final NbdServer nbd;
    private final LocalAttacher attacher;
    private final Exposer exposer;
    private final ScheduledExecutorService reaper;
    private final Instant started = Instant.now();

    private Service(DaemonConfig config, StateLock lock, EventLog events, VolumeManager volumes, Catalog catalog,
                    WriterRegistry writers, FileSystemFreezer freezer, SnapshotSetCreator creator,
                    VolumeExports exports, NbdServer nbd, LocalAttacher attacher, Exposer exposer) {
        this.config = config;
        this.lock = lock;
        this.events = events;
        this.volumes = volumes;
        this.catalog = catalog;
        this.writers = writers;
        this.freezer = freezer;
        this.creator = creator;
        this.exports = exports;
        this.nbd = nbd;
        this.attacher = attacher;
        this.exposer = exposer;
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon()
                .name("session-reaper").unstarted(r));
        reaper.scheduleWithFixedDelay(this::reapLeases, 1, 1, TimeUnit.SECONDS);
    }

    /** Starts the service on its state directory: lock, thaw leftovers, engine, reconcile, NBD. */
    /** Registered btrfs subvolumes (the btrfs provider's volumes). */
    private BtrfsVolumes btrfs;
    private Peers peers;
    private AccessConfig access;

    public BtrfsVolumes btrfs() {
        return btrfs;
    }

    public static Service start(DaemonConfig config) throws IOException {
        StateFiles.privateByDefault();
        Peers peers = Peers.of(config.group());
        Path state = Files.createDirectories(config.state());
        StateFiles.secureStateDirectory(state, peers.group());
        AccessConfig access;
        try {
            access = AccessConfig.load(state, peers.trusted());
        } catch (IOException e) {
            throw new IOException("the daemon does not start: " + e.getMessage(), e);
        }
        StateLock lock = StateLock.acquire(state);
        EventLog events = null;
        VolumeManager volumes = null;
        NbdServer nbd = null;
        try {
            events = new EventLog(state.resolve("events.log"));
            EventLog ev = events;
            LocalAttacher attacher = new LocalAttacher(state, config.nbdSocket());
            FileSystemFreezer freezer = new FileSystemFreezer(state, volume ->
                    Optional.ofNullable(attacher.find(volume)).map(Attachment::loopDevice));
            for (Path p : freezer.thawLeftovers()) {
                events.append("thawed-leftover", "warning", "thawed " + p + ", left frozen by a service that stopped "
                        + "during a commit", Map.of("mount", p.toString()));
            }
            volumes = VolumeManager.open(state.resolve("volumes"), new VolumeEvents() {
                @Override
                public void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {
                    ev.append("shadow-released", "warning", "shadow copy " + copy.id() + " of volume " + volume
                            + " was released: " + reason, Map.of("shadow", copy.id().toString(), "volume", volume));
                }

                @Override
                public void warning(String volume, String message) {
                    ev.append("volume-warning", "warning", "volume " + volume + ": " + message, Map.of("volume", volume));
                }
            });
            Catalog catalog = Catalog.open(state);
            for (String p : catalog.problems()) {
                events.append("catalog-unreadable", "error", p, Map.of());
            }
            BtrfsVolumes btrfs = BtrfsVolumes.open(state);
            Reconciler.reconcile(catalog, volumes, btrfs, events);
            List<Attachment> stale = attacher.cleanupStale();
            if (!stale.isEmpty()) {
                events.append("stale-attachments", "warning", "removed " + stale.size() + " block device attachment(s) "
                        + "left by a previous run", Map.of("devices", stale.stream().map(Attachment::loopDevice).toList()));
            }
            WriterRegistry writers = new WriterRegistry(config.hooksDir());
            for (Writer w : DatabaseWriterConfig.load(state).writers(new AttachedVolumeLocator(volumes, attacher))) {
                writers.addBuiltin(w);
                events.append("writer-configured", "info", "database writer " + w + " from " + DatabaseWriterConfig.FILE,
                        Map.of("writer", w.name()));
            }
            SnapshotSetCreator creator = new SnapshotSetCreator(volumes, writers, catalog, events, freezer,
                    config.timeouts());
            VolumeExports exports = new VolumeExports(volumes);
            nbd = NbdServer.start(exports, nbdConfig(config, new NbdDoor(peers, access, exports)));
            StateFiles.shareSocket(config.nbdSocket(), peers.group());
            Exposer exposer = new Exposer(state, exports, attacher);
            creator.autoRecovery(new AutoRecovery(exports, attacher, freezer, state));
            creator.foreignVolumes(btrfs);
            Service s = new Service(config, lock, events, volumes, catalog, writers, freezer, creator, exports, nbd,
                    attacher, exposer);
            s.btrfs = btrfs;
            s.peers = peers;
            s.access = access;
            events.append("service-started", "info", "service started on " + state + " (pid "
                    + ProcessHandle.current().pid() + ")", Map.of());
            return s;
        } catch (IOException | RuntimeException e) {
            if (nbd != null) {
                nbd.close();
            }
            if (volumes != null) {
                volumes.close();
            }
            if (events != null) {
                events.close();
            }
            lock.close();
            throw e;
        }
    }

    /** The NBD server's settings from the daemon's: limits, who may use the socket, TLS on TCP. */
    private static NbdServer.Config nbdConfig(DaemonConfig config, NbdDoor door) throws IOException {
        Doors d = config.doors();
        NbdServer.Config nc = NbdServer.Config.unix(config.nbdSocket()).withAccess(door)
                .withLimits(d.nbdMaxConnections(), d.nbdMaxConnectionsPerUser(), (int) d.nbdHandshakeTimeout().toSeconds());
        if (config.nbdTcp() != null) {
            nc = d.nbdTlsCreds() != null
                    ? nc.withTcp(config.nbdTcp(), TlsMode.REQUIRED, TlsCredentials.load(d.nbdTlsCreds()), true)
                    : nc.withTcp(config.nbdTcp(), TlsMode.OFF, null);
        }
        return nc;
    }

    public DaemonConfig config() {
        return config;
    }

    /** Who is who on the service's sockets. */
    public Peers peers() {
        return peers;
    }

    /** What operators may work on ({@code STATE/config.json}). */
    public AccessConfig accessConfig() {
        return access;
    }

    public EventLog events() {
        return events;
    }

    public WriterRegistry writers() {
        return writers;
    }

    public Catalog catalog() {
        return catalog;
    }

    public VolumeManager volumes() {
        return volumes;
    }

    public SessionManager sessions() {
        return sessions;
    }

    public SnapshotSetCreator creator() {
        return creator;
    }

    public Instant started() {
        return started;
    }

    public NbdServer nbd() {
        return nbd;
    }

    // ------------------------------------------------------------------ volumes

    public ManagedVolume createVolume(VolumeConfig vc) throws IOException {
        ManagedVolume v;
        try {
            v = volumes.create(vc);
        } catch (NativeIOException e) {
            if (e.errno() == EFBIG) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "volume " + vc.name() + ": " + Sizes.format(
                        vc.size()) + " is more than the file system under " + config.state().resolve("volumes")
                        + " allows in one file (" + e.getMessage() + "); choose a smaller --size", null, e);
            }
            throw e;
        }
        events.append("volume-created", "info", "volume " + v.name() + " created (" + vc.size() + " bytes)",
                Map.of("volume", v.name()));
        return v;
    }

    public void deleteVolume(String name, boolean force) throws IOException {
        if (btrfs.find(name) != null) {
            List<ShadowRecord> copies = catalog.copies().stream().filter(c -> c.volume().equals(name)).toList();
            if (copies.stream().anyMatch(Service::isProtected)) {
                refuse("delete volume " + name, copies.stream().filter(Service::isProtected).toList());
            }
            if (!copies.isEmpty() && !force) {
                throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + name + " has " + copies.size()
                        + " shadow copies; delete them first, or force the deletion");
            }
            for (ShadowRecord r : copies) {
                deleteOne(r, "deleted with its volume");
            }
            btrfs.remove(name, true);
            events.append("volume-deleted", "info", "btrfs volume " + name + " unregistered (the subvolume is left "
                    + "alone)", Map.of("volume", name));
            return;
        }
        ManagedVolume v = volumes.get(name);
        List<ShadowRecord> prot = catalog.copies().stream().filter(c -> c.volume().equals(name) && isProtected(c))
                .toList();
        if (!prot.isEmpty()) {
            refuse("delete volume " + name, prot);
        }
        if (attacher.find(name) != null) {
            throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + name + " is attached as "
                    + attacher.find(name).loopDevice() + "; detach it first");
        }
        List<String> ids = v.shadowCopies().stream().map(c -> c.id().toString()).toList();
        volumes.delete(name, force);
        catalog.removeCopies(ids);
        events.append("volume-deleted", "info", "volume " + name + " deleted" + (ids.isEmpty() ? "" : " with "
                + ids.size() + " shadow copies"), Map.of("volume", name));
    }

    public Attachment attach(String volume, boolean readOnly) throws IOException {
        volumes.get(volume);
        Attachment a = attacher.attach(volume, readOnly);
        events.append("volume-attached", "info", "volume " + volume + " attached as " + a.loopDevice(),
                Map.of("volume", volume, "device", a.loopDevice()));
        return a;
    }

    public void detach(String volume) throws IOException {
        if (attacher.find(volume) == null) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "volume " + volume + " is not attached");
        }
        attacher.detach(volume);
        events.append("volume-detached", "info", "volume " + volume + " detached", Map.of("volume", volume));
    }

    public Optional<Attachment> attachment(String volume) {
        return Optional.ofNullable(attacher.find(volume));
    }

    public void resizeShadowStorage(String volume, ShadowStorageLimit limit) throws IOException {
        volumes.resizeShadowStorage(volume, limit);
        events.append("shadowstorage-resized", "info", "shadow storage of " + volume + " set to " + limit,
                Map.of("volume", volume));
        // a smaller maximum may have released copies; the engine reported them, the catalog follows
        syncWithEngine();
    }

    // ------------------------------------------------------------------ shadow copies

    public List<ShadowRecord> shadows() {
        syncWithEngine();
        return catalog.copies().stream().sorted(Comparator.comparing(ShadowRecord::created)).toList();
    }

    /** The copy {@code id} names: a whole id (with or without braces) or a unique prefix, as backups take. */
    public ShadowRecord shadow(String id) throws ServiceException {
        String full = IdPrefix.resolve(id, catalog.copies().stream().map(ShadowRecord::id).toList(), "shadow copy",
                "shadowcopy list shadows");
        return catalog.copy(full).orElseThrow(() -> new ServiceException(VssError.OBJECT_NOT_FOUND,
                "no shadow copy " + id + " (see 'shadowcopy list shadows')"));
    }

    /** The copies of the set {@code set} names (a whole id or a unique prefix); refused if there are none. */
    public List<ShadowRecord> setCopies(String set) throws ServiceException {
        List<ShadowRecord> all = shadows();
        String full = IdPrefix.resolve(set, all.stream().map(ShadowRecord::setId).distinct().toList(),
                "shadow copy set", "shadowcopy list shadows");
        return all.stream().filter(r -> full.equals(r.setId())).toList();
    }

    /** Which copies a delete names. */
    public record Selector(String shadow, String set, String volume, boolean oldest, boolean all) {}

    /** What a delete did: copies deleted, and protected copies it refused to delete. */
    public record DeleteResult(List<String> deleted, List<ShadowRecord> refused) {}

    public DeleteResult deleteShadows(Selector sel) throws IOException {
        List<ShadowRecord> selected = select(sel);
        List<String> deleted = new ArrayList<>();
        List<ShadowRecord> refused = new ArrayList<>();
        for (ShadowRecord r : selected) {
            if (isProtected(r)) {
                refused.add(r);
                continue;
            }
            deleteOne(r, "deleted on request");
            deleted.add(r.id());
        }
        if (!refused.isEmpty()) {
            events.append("delete-refused", "warning", "refused to delete " + refused.size() + " protected shadow cop"
                    + (refused.size() == 1 ? "y" : "ies") + " (" + describe(sel) + "): " + refused.stream()
                    .map(r -> r.id() + " until " + r.protectUntil()).toList(),
                    Map.of("shadows", refused.stream().map(ShadowRecord::id).toList(), "request", describe(sel)));
            if (deleted.isEmpty()) {
                refuse(describe(sel), refused);
            }
        }
        return new DeleteResult(deleted, refused);
    }

    private List<ShadowRecord> select(Selector sel) throws IOException {
        int given = (sel.shadow() != null ? 1 : 0) + (sel.set() != null ? 1 : 0) + (sel.volume() != null ? 1 : 0)
                + (sel.all() ? 1 : 0);
        if (given != 1) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "name exactly one of: a shadow copy, a set, a volume "
                    + "(optionally the oldest copy of it), or all");
        }
        if (sel.shadow() != null) {
            return List.of(shadow(sel.shadow()));
        }
        if (sel.set() != null) {
            return setCopies(sel.set());
        }
        List<ShadowRecord> all = shadows();
        if (sel.volume() != null) {
            if (btrfs.find(sel.volume()) == null) {
                volumes.get(sel.volume());
            }
            List<ShadowRecord> s = all.stream().filter(r -> r.volume().equals(sel.volume())).toList();
            if (sel.oldest()) {
                return s.stream().limit(1).toList(); // the oldest, even if protected: then it is refused
            }
            return s;
        }
        return all;
    }

    private static String describe(Selector sel) {
        if (sel.shadow() != null) {
            return "delete shadows --shadow " + sel.shadow();
        }
        if (sel.set() != null) {
            return "delete shadows --set " + sel.set();
        }
        if (sel.volume() != null) {
            return "delete shadows --for " + sel.volume() + (sel.oldest() ? " --oldest" : "");
        }
        return "delete shadows --all";
    }

    private void deleteOne(ShadowRecord r, String why) throws IOException {
        if (r.exposedPath() != null) {
            if (btrfs.find(r.volume()) != null) {
                dev.shadowcopy.nbd.attach.LocalAttacher.run("umount", r.exposedPath());
            } else {
                exposer.unexpose(ShadowCopyId.parse(r.id()));
            }
        }
        Optional<ManagedVolume> v = volumes.find(r.volume());
        var f = btrfs.find(r.volume());
        if (v.isPresent()) {
            v.get().deleteShadowCopy(ShadowCopyId.parse(r.id())); // data first, then the record
        } else if (f != null) {
            f.delete(ShadowCopyId.parse(r.id()));
        }
        catalog.removeCopies(List.of(r.id()));
        if (r.sessionId() != null) {
            sessions.find(UUID.fromString(r.sessionId())).ifPresent(s -> s.forgetCopy(r.id()));
        }
        events.append("shadow-deleted", "info", "shadow copy " + r.id() + " of volume " + r.volume() + " " + why,
                Map.of("shadow", r.id(), "volume", r.volume()));
    }

    /** True while the copy's protection date is in the future. */
    public static boolean isProtected(ShadowRecord r) {
        return r.protectUntil() != null && Instant.now().isBefore(Instant.parse(r.protectUntil()));
    }

    private void refuse(String what, List<ShadowRecord> prot) throws ServiceException {
        events.append("delete-refused", "warning", "refused: " + what + " would remove " + prot.size()
                + " protected shadow cop" + (prot.size() == 1 ? "y" : "ies"), Map.of("shadows",
                prot.stream().map(ShadowRecord::id).toList()));
        ShadowRecord first = prot.getFirst();
        throw new ServiceException(VssError.PROTECTED, "refused: shadow cop" + (prot.size() == 1 ? "y " : "ies ")
                + String.join(", ", prot.stream().map(ShadowRecord::id).toList()) + (prot.size() == 1 ? " is" : " are")
                + " protected until " + first.protectUntil() + "; nothing protected was deleted");
    }

    public ShadowRecord protect(String id, Instant until) throws IOException {
        ShadowRecord r = shadow(id);
        if (isProtected(r) && Instant.parse(r.protectUntil()).isAfter(until)) {
            throw new ServiceException(VssError.PROTECTED, "shadow copy " + r.id() + " is protected until "
                    + r.protectUntil() + "; protection can be extended but not shortened");
        }
        catalog.updateCopy(r.id(), c -> c.withProtectUntil(until.toString()));
        events.append("shadow-protected", "info", "shadow copy " + r.id() + " protected until " + until,
                Map.of("shadow", r.id(), "until", until.toString()));
        return shadow(r.id());
    }

    public void revert(String id) throws IOException {
        ShadowRecord r = shadow(id);
        if (btrfs.find(r.volume()) != null) {
            throw new ServiceException(VssError.BAD_STATE, "shadow copy " + r.id() + " is a btrfs snapshot; the "
                    + "service does not revert btrfs subvolumes in place (open files would keep the old subvolume). "
                    + "Expose it and copy back, or replace the subvolume with `btrfs subvolume snapshot` of it");
        }
        ManagedVolume v = volumes.get(r.volume());
        if (attacher.find(v.name()) != null) {
            throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + v.name() + " is attached as "
                    + attacher.find(v.name()).loopDevice() + "; unmount and detach it before reverting");
        }
        ShadowCopyInfo target = v.shadowCopies().stream().filter(c -> c.id().toString().equals(r.id())).findFirst()
                .orElseThrow(() -> new ServiceException(VssError.OBJECT_NOT_FOUND, "shadow copy " + r.id()
                        + " has no data in the engine"));
        List<ShadowRecord> later = catalog.copies().stream().filter(c -> c.volume().equals(v.name()))
                .filter(c -> v.shadowCopies().stream().anyMatch(i -> i.id().toString().equals(c.id())
                        && i.sequence() > target.sequence())).toList();
        List<ShadowRecord> prot = later.stream().filter(Service::isProtected).toList();
        if (!prot.isEmpty()) {
            refuse("revert to " + r.id() + " (it deletes the copies taken after it)", prot);
        }
        v.revert(target.id());
        syncWithEngine();
        events.append("volume-reverted", "warning", "volume " + v.name() + " reverted to shadow copy " + r.id()
                + " (" + later.size() + " later copies deleted)", Map.of("volume", v.name(), "shadow", r.id()));
    }

    public ShadowRecord expose(String id, Path mountPoint) throws IOException {
        ShadowRecord r = shadow(id);
        if ((r.attributes() & Attributes.CLIENT_ACCESSIBLE) != 0) {
            // VSS refuses to expose client-accessible copies; a Linux admin has no Previous Versions tab, so we
            // allow it and note it here.
            LOG.log(System.Logger.Level.DEBUG, "exposing client-accessible copy {0}", r.id());
        }
        var f = btrfs.find(r.volume());
        if (f != null) {
            // A btrfs snapshot is a read-only file tree already: a read-only bind mount shows it.
            java.nio.file.Files.createDirectories(mountPoint);
            dev.shadowcopy.nbd.attach.LocalAttacher.run("mount", "--bind", "-o", "ro",
                    f.path(ShadowCopyId.parse(r.id())).toString(), mountPoint.toAbsolutePath().toString());
        } else {
            ManagedVolume v = volumes.get(r.volume());
            exposer.expose(v.shadowCopy(ShadowCopyId.parse(r.id())), mountPoint.toAbsolutePath());
        }
        catalog.updateCopy(r.id(), c -> c.withExposedPath(mountPoint.toAbsolutePath().toString(),
                (c.attributes() | Attributes.EXPOSED_LOCALLY) & ~Attributes.NOT_SURFACED));
        events.append("shadow-exposed", "info", "shadow copy " + r.id() + " exposed on " + mountPoint,
                Map.of("shadow", r.id(), "path", mountPoint.toString()));
        return shadow(r.id());
    }

    public void unexpose(String id) throws IOException {
        ShadowRecord r = shadow(id);
        if (r.exposedPath() == null) {
            throw new ServiceException(VssError.BAD_STATE, "shadow copy " + r.id() + " is not exposed");
        }
        if (btrfs.find(r.volume()) != null) {
            dev.shadowcopy.nbd.attach.LocalAttacher.run("umount", r.exposedPath());
        } else {
            exposer.unexpose(ShadowCopyId.parse(r.id()));
        }
        catalog.updateCopy(r.id(), c -> c.withExposedPath(null,
                (c.attributes() & ~Attributes.EXPOSED_LOCALLY) | Attributes.NOT_SURFACED));
        events.append("shadow-unexposed", "info", "shadow copy " + r.id() + " unexposed", Map.of("shadow", r.id()));
    }

    /** Drops catalog records of copies the engine released on its own (shadow storage full, revert). */
    private void syncWithEngine() {
        List<String> gone = new ArrayList<>();
        for (ShadowRecord r : catalog.copies()) {
            if ("missing".equals(r.state())) {
                continue;
            }
            var f = btrfs.find(r.volume());
            if (f != null) {
                if (!f.exists(ShadowCopyId.parse(r.id()))) {
                    gone.add(r.id());
                }
                continue;
            }
            Optional<ManagedVolume> v = volumes.find(r.volume());
            if (v.isEmpty() || v.get().shadowCopies().stream().noneMatch(c -> c.id().toString().equals(r.id()))) {
                gone.add(r.id());
            }
        }
        if (!gone.isEmpty()) {
            try {
                catalog.removeCopies(gone);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot update the catalog: {0}", e.toString());
            }
        }
    }

    // ------------------------------------------------------------------ sessions

    /**
     * Opens a backup session. Bound to the caller's connection when {@code lease} is null (it is released when
     * that connection closes), else it lives while renewed within {@code lease}.
     */
    public Session openSession(Context context, String backupType, Set<String> exclude, Set<String> verify,
                               String owner, Duration lease) throws ServiceException {
        Session s = new Session(UUID.randomUUID(), context, backupType, exclude, verify, owner,
                lease == null ? null : Instant.now().plus(lease));
        sessions.open(s);
        events.append("session-opened", "info", "backup session " + s.id() + " opened by " + owner + " (context "
                + context.wireName() + ")", Map.of("session", s.id().toString()));
        return s;
    }

    public SnapshotSetCreator.CreatedSet createSet(Session s, List<String> volumeNames, Instant protectUntil)
            throws ServiceException {
        s.lock().lock();
        try {
            if (s.state() == Session.State.RELEASED) {
                throw new ServiceException(VssError.BAD_STATE, "session " + s.id() + " was released");
            }
            try {
                return creator.create(s, volumeNames, protectUntil);
            } finally {
                recordWriters(s);
            }
        } finally {
            s.lock().unlock();
        }
    }

    /** VSS's BackupComplete: writers may truncate logs now. Failures are reported, not fatal. */
    public List<WriterCall.Outcome> backupComplete(Session s) throws ServiceException {
        s.lock().lock();
        try {
            if (s.state() != Session.State.SNAPSHOTTED) {
                throw new ServiceException(VssError.BAD_STATE, "backup complete is only valid after a successful "
                        + "set in the same session (session is " + s.state().name().toLowerCase() + ")");
            }
            List<WriterCall.Outcome> failures = creator.notify(s, WriterEvent.BACKUP_COMPLETE);
            s.state(Session.State.COMPLETED);
            for (WriterCall.Outcome o : failures) {
                events.append("writer-failed", "warning", "writer " + o.writer().name() + " failed at backup-complete: "
                        + o.message(), Map.of("writer", o.writer().name(), "session", s.id().toString()));
            }
            recordWriters(s);
            return failures;
        } finally {
            s.lock().unlock();
        }
    }

    /** Ends a session: BackupShutdown to its writers, its auto-release copies deleted. Idempotent. */
    public void release(Session s, String why) {
        s.lock().lock();
        try {
            if (s.state() == Session.State.RELEASED) {
                return;
            }
            s.state(Session.State.RELEASED);
            sessions.remove(s.id());
            for (WriterCall.Outcome o : creator.notify(s, WriterEvent.BACKUP_SHUTDOWN)) {
                events.append("writer-failed", "warning", "writer " + o.writer().name() + " failed at backup-shutdown: "
                        + o.message(), Map.of("writer", o.writer().name()));
            }
            recordWriters(s);
            List<String> released = new ArrayList<>();
            for (ShadowRecord r : catalog.copies()) {
                if (s.id().toString().equals(r.sessionId()) && (r.attributes() & Attributes.NO_AUTO_RELEASE) == 0) {
                    try {
                        if (isProtected(r)) {
                            continue; // protection wins over auto-release
                        }
                        deleteOne(r, "released with session " + s.id());
                        released.add(r.id());
                    } catch (IOException e) {
                        events.append("release-failed", "error", "cannot release shadow copy " + r.id() + ": "
                                + e.getMessage(), Map.of("shadow", r.id()));
                    }
                }
            }
            events.append("session-released", "info", "backup session " + s.id() + " ended (" + why + ")"
                    + (released.isEmpty() ? "" : "; released " + released.size() + " shadow copies"),
                    Map.of("session", s.id().toString(), "released", released));
        } finally {
            s.lock().unlock();
        }
    }

    private void reapLeases() {
        try {
            for (Session s : sessions.expired(Instant.now())) {
                release(s, "its lease ran out");
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "session reaper: {0}", e.toString());
        }
    }

    private void recordWriters(Session s) {
        for (WriterStatus w : s.writerStatus()) {
            try {
                catalog.putWriter(new WriterRecord(w.name(), w.kind(), Instant.now().toString(), w.state().name(),
                        w.failure().name(), w.message()));
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot record writer state: {0}", e.toString());
            }
        }
    }

    /** {@code list writers}: every writer there now with its last known state, then writers seen before. */
    public List<Map<String, Object>> listWriters() throws ServiceException {
        Map<String, Map<String, Object>> out = new LinkedHashMap<>();
        Map<String, WriterRecord> known = new LinkedHashMap<>();
        catalog.writers().forEach(w -> known.put(w.name(), w));
        for (Writer w : writers.current()) {
            Map<String, Object> m = writerRow(w.name(), w.kind(), true, known.get(w.name()));
            if (w instanceof dev.shadowcopy.writer.ExternalWriter x) {
                m.put("id", x.id().toString());
            }
            out.put(w.name(), m);
        }
        for (WriterRecord r : known.values()) {
            out.putIfAbsent(r.name(), writerRow(r.name(), r.kind(), false, r));
        }
        return List.copyOf(out.values());
    }

    /** One {@code list writers} row; a writer never seen in a session is stable with no error. */
    private static Map<String, Object> writerRow(String name, String kind, boolean present, WriterRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("kind", kind);
        m.put("present", present);
        m.put("state", r == null ? "STABLE" : r.lastState());
        m.put("last_error", r == null ? "NONE" : r.lastFailure());
        m.put("message", r == null ? null : r.lastMessage());
        m.put("last_seen", r == null ? null : r.lastSeen());
        return m;
    }

    // ------------------------------------------------------------------ lifecycle

    @Override
    public void close() throws IOException {
        reaper.shutdownNow();
        for (Session s : sessions.list()) {
            release(s, "the service is stopping");
        }
        exposer.unexposeAll();
        attacher.detachAll();
        nbd.close();
        volumes.close();
        events.append("service-stopped", "info", "service stopped", Map.of());
        events.close();
        lock.close();
    }
}
