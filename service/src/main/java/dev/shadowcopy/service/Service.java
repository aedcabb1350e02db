package dev.shadowcopy.service;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.attach.Exposer;
import dev.shadowcopy.attach.InUseException;
import dev.shadowcopy.attach.Mounts;
import dev.shadowcopy.attach.keep.DescriptorStore;
import dev.shadowcopy.attach.keep.HolderStore;
import dev.shadowcopy.attach.keep.SystemdStore;
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
    private final Attacher attacher;
    private final Exposer exposer;
    private final ScheduledExecutorService reaper;
    private final Instant started = Instant.now();

    private Service(DaemonConfig config, StateLock lock, EventLog events, VolumeManager volumes, Catalog catalog,
                    WriterRegistry writers, FileSystemFreezer freezer, SnapshotSetCreator creator,
                    VolumeExports exports, NbdServer nbd, Attacher attacher, Exposer exposer) {
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
    /** Mount points of the service's own copy mounts (previous versions, Samba), which an expose may replace. */
    private volatile java.util.function.Predicate<Path> automaticExposures = p -> false;

    public void automaticExposures(java.util.function.Predicate<Path> automatic) {
        this.automaticExposures = automatic;
    }

    /** Registered btrfs subvolumes (the btrfs provider's volumes). */
    private BtrfsVolumes btrfs;
    private Peers peers;
    private AccessConfig access;

    public BtrfsVolumes btrfs() {
        return btrfs;
    }

    /**
     * Where the FUSE descriptors of attached volumes are kept while the service is away: systemd's store when
     * systemd runs us with one, else our holder process ({@code STATE/holder.sock}).
     */
    static DescriptorStore descriptorStore(Path state) {
        Map<String, String> env = System.getenv();
        if (SystemdStore.available(env)) {
            return new SystemdStore(env.get("NOTIFY_SOCKET"), env);
        }
        return new HolderStore(state.resolve("holder.sock"), state.resolve("holder.log"));
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
        Attacher attacher = null;
        try {
            events = new EventLog(state.resolve("events.log"));
            EventLog ev = events;
            attacher = new Attacher(state, descriptorStore(state));
            Attacher att = attacher;
            FileSystemFreezer freezer = new FileSystemFreezer(state, volume ->
                    att.find(volumeKey(volume)).map(Attachment::loopDevice));
            EngineEvents engineEvents = new EngineEvents(ev);
            volumes = VolumeManager.open(state.resolve("volumes"), engineEvents);
            Catalog catalog = Catalog.open(state);
            for (String p : catalog.problems()) {
                events.append("catalog-unreadable", "error", p, Map.of());
            }
            BtrfsVolumes btrfs = BtrfsVolumes.open(state);
            Reconciler.reconcile(catalog, volumes, btrfs, events);
            engineEvents.attach(catalog); // from here the engine may release unprotected copies for room
            for (ManagedVolume v : volumes.list()) {
                if (v.incomplete() != null) {
                    events.append("volume-incomplete", "error", "volume " + v.name() + " is incomplete and refused for "
                            + "attach, NBD, shadow copies and backups: " + v.incomplete(), Map.of("volume", v.name()));
                }
            }
            Exposer exposer = new Exposer(state, attacher);
            takeOverAttachments(state, attacher, exposer, volumes, catalog, btrfs, events);
            // after the attachments serve again: thawing writes to file systems on them
            for (Path p : freezer.thawLeftovers()) {
                events.append("thawed-leftover", "warning", "thawed " + p + ", left frozen by a service that stopped "
                        + "during a commit", Map.of("mount", p.toString()));
            }
            WriterRegistry writers = new WriterRegistry(config.hooksDir());
            AttachedVolumeLocator locator = new AttachedVolumeLocator(volumes, attacher);
            for (Writer w : DatabaseWriterConfig.load(state).writers(locator)) {
                writers.addBuiltin(w);
                events.append("writer-configured", "info", "database writer " + w + " from " + DatabaseWriterConfig.FILE,
                        Map.of("writer", w.name()));
            }
            SnapshotSetCreator creator = new SnapshotSetCreator(volumes, writers, catalog, events, freezer,
                    config.timeouts());
            creator.protection(engineEvents);
            creator.locator(locator);
            freezer.onLateFreeze(m -> ev.append("late-freeze-thawed", "warning", m, Map.of()));
            VolumeExports exports = new VolumeExports(volumes);
            nbd = NbdServer.start(exports, nbdConfig(config, new NbdDoor(peers, access, exports)));
            StateFiles.shareSocket(config.nbdSocket(), peers.group());
            creator.autoRecovery(new AutoRecovery(attacher, freezer, state));
            creator.foreignVolumes(btrfs);
            Service s = new Service(config, lock, events, volumes, catalog, writers, freezer, creator, exports, nbd,
                    attacher, exposer);
            s.btrfs = btrfs;
            s.peers = peers;
            s.access = access;
            events.append("service-started", "info", "service started on " + state + " (pid "
                    + ProcessHandle.current().pid() + "; attached volumes kept by " + attacher.keeper() + ")", Map.of());
            return s;
        } catch (IOException | RuntimeException e) {
            if (attacher != null) {
                attacher.stop(Duration.ofSeconds(10)); // attachments taken over stay for the next start
                attacher.close();
            }
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

    /** The attachment key of a managed volume. */
    static String volumeKey(String volume) {
        return "volume/" + volume;
    }

    /**
     * Attachments and exposures are state: each recorded one is taken over (still attached: the service was
     * restarted under it) or made again (after a reboot), and each change is an event.
     */
    private static void takeOverAttachments(Path state, Attacher attacher, Exposer exposer, VolumeManager volumes,
                                            Catalog catalog, BtrfsVolumes btrfs, EventLog events) throws IOException {
        Path recovery = state.resolve("recovery").toAbsolutePath().normalize();
        List<Attacher.Outcome> outcomes = attacher.start(key -> {
            try {
                if (key.startsWith("volume/")) {
                    return volumes.find(key.substring("volume/".length())).orElse(null);
                }
                if (key.startsWith(Exposer.PREFIX)) {
                    ShadowCopyId id = ShadowCopyId.parse(key.substring(Exposer.PREFIX.length()));
                    Optional<ShadowRecord> r = catalog.copy(id.toString());
                    if (r.isEmpty() || r.get().exposedPath() == null) {
                        return null;
                    }
                    Optional<ManagedVolume> v = volumes.find(r.get().volume());
                    return v.isEmpty() ? null : exposer.reopen(id, v.get().shadowCopy(id));
                }
                return null; // auto-recovery layers are never taken over: their set was aborted
            } catch (IOException | RuntimeException e) {
                events.append("attachment-lost", "error", "cannot serve " + key + " again: " + e.getMessage(),
                        Map.of("attachment", key));
                return null;
            }
        }, p -> p.toAbsolutePath().normalize().startsWith(recovery));
        for (Attacher.Outcome o : outcomes) {
            String level = switch (o.kind()) {
                case ADOPTED, CLEANED -> "info";
                case REATTACHED, DROPPED -> "warning";
                case LOST -> "error";
            };
            events.append("attachment-" + o.kind().name().toLowerCase(), level, o.message(),
                    Map.of("attachment", o.key()));
        }
        java.util.Set<ShadowCopyId> exposed = new java.util.HashSet<>();
        for (ShadowRecord r : catalog.copies()) {
            if (r.exposedPath() == null) {
                continue;
            }
            ShadowCopyId id = ShadowCopyId.parse(r.id());
            Path mount = Path.of(r.exposedPath());
            try {
                var f = btrfs.find(r.volume());
                if (f != null) {
                    if (!Mounts.isMountPoint(mount)) {
                        Files.createDirectories(mount);
                        runChecked("mount", "--bind", "-o", "ro", f.path(id).toString(), mount.toString());
                    }
                } else {
                    exposer.restore(id, mount);
                    exposed.add(id);
                }
            } catch (IOException | RuntimeException e) {
                events.append("exposure-lost", "error", "shadow copy " + r.id() + " was exposed on " + mount
                        + " and could not be exposed again: " + e.getMessage() + "; expose it again by hand",
                        Map.of("shadow", r.id(), "path", mount.toString()));
                catalog.updateCopy(r.id(), c -> c.withExposedPath(null,
                        (c.attributes() & ~Attributes.EXPOSED_LOCALLY) | Attributes.NOT_SURFACED));
            }
        }
        exposer.discardUnused(exposed);
    }

    static void runChecked(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " failed: " + out.strip());
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd));
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
        return createVolume(vc, null);
    }

    /** Creates a volume, marked incomplete for {@code incomplete} when not null (a restore's new target). */
    public ManagedVolume createVolume(VolumeConfig vc, String incomplete) throws IOException {
        ManagedVolume v;
        try {
            v = volumes.create(vc, incomplete);
        } catch (NativeIOException e) {
            if (e.errno() == EFBIG) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "volume " + vc.name() + ": " + Sizes.format(
                        vc.size()) + " is more than the file system under " + config.state().resolve("volumes")
                        + " allows in one file (" + e.getMessage() + "); choose a smaller --size", null, e);
            }
            throw e;
        }
        events.append("volume-created", "info", "volume " + v.name() + " created (" + vc.size() + " bytes)"
                + (incomplete == null ? "" : ", incomplete until " + incomplete), Map.of("volume", v.name()));
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
        if (attacher.find(volumeKey(name)).isPresent()) {
            // --force of delete is about shadow copies; taking a device from under a file system is a separate,
            // explicit step (volume detach --force)
            detachForChange(name, "delete volume " + name, false, "detach it with `volume detach " + name
                    + " --force` first, then delete it");
        }
        List<String> ids = v.shadowCopies().stream().map(c -> c.id().toString()).toList();
        volumes.delete(name, force);
        catalog.removeCopies(ids);
        events.append("volume-deleted", "info", "volume " + name + " deleted" + (ids.isEmpty() ? "" : " with "
                + ids.size() + " shadow copies"), Map.of("volume", name));
    }

    public Attachment attach(String volume, boolean readOnly) throws IOException {
        ManagedVolume v = volumes.get(volume);
        requireComplete(v, "attached");
        Attachment a = attacher.attach(volumeKey(volume), v, readOnly);
        events.append("volume-attached", "info", "volume " + volume + " attached as " + a.loopDevice() + " ("
                + a.path() + ", kept by " + attacher.keeper() + ")", Map.of("volume", volume, "device", a.loopDevice()));
        return a;
    }

    /**
     * Detaches a volume's device; refused while a file system is mounted from it or a process holds it open
     * (the error names them), unless {@code force}: then the file system on it gets I/O errors from now on.
     */
    public void detach(String volume, boolean force) throws IOException {
        Optional<Attachment> a = attacher.find(volumeKey(volume));
        if (a.isEmpty()) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "volume " + volume + " is not attached");
        }
        List<String> uses = attacher.users(volumeKey(volume));
        try {
            attacher.detach(volumeKey(volume), force);
        } catch (InUseException e) {
            throw new ServiceException(VssError.VOLUME_IN_USE, "cannot detach volume " + volume + ": " + e.device()
                    + " is in use (" + String.join("; ", e.uses()) + "). " + e.remedy());
        }
        events.append(uses.isEmpty() ? "volume-detached" : "volume-detached-forced", uses.isEmpty() ? "info" : "warning",
                "volume " + volume + " detached from " + a.get().loopDevice() + (uses.isEmpty() ? "" : " by force while "
                + String.join("; ", uses) + ": its I/O fails from now on"), Map.of("volume", volume));
    }

    /**
     * Before an operation that takes a volume's device away or changes its data underneath (delete, restore
     * over it): refused while the device is in use unless {@code force}; an unused device is detached.
     */
    private void detachForChange(String volume, String what, boolean force, String consequence) throws IOException {
        List<String> uses = attacher.users(volumeKey(volume));
        if (!uses.isEmpty() && !force) {
            throw new ServiceException(VssError.VOLUME_IN_USE, what + " refused: volume " + volume + " is attached as "
                    + attacher.find(volumeKey(volume)).map(Attachment::loopDevice).orElse("?") + " and in use ("
                    + String.join("; ", uses) + "). Unmount it or close it first, or " + consequence
                    + " (the file system on it then gets I/O errors and loses what it had not written)");
        }
        detach(volume, force);
    }

    /** Who uses the volume's attached device now (mounts, holders, open descriptors); empty if none or detached. */
    public List<String> users(String volume) throws IOException {
        return attacher.users(volumeKey(volume));
    }

    public Optional<Attachment> attachment(String volume) {
        return attacher.find(volumeKey(volume));
    }

    /** Where attached volumes' descriptors are kept ("holder process 1234", "systemd file-descriptor store"). */
    public String keeper() {
        return attacher.keeper();
    }

    /**
     * Refuses to use a volume an interrupted operation left incomplete (a restore killed with the daemon): its
     * content is neither the old nor the new one.
     */
    public static void requireComplete(ManagedVolume v, String use) throws ServiceException {
        if (v.incomplete() != null) {
            throw new ServiceException(VssError.BAD_STATE, "volume " + v.name() + " is incomplete and cannot be " + use
                    + ": " + v.incomplete());
        }
    }

    /**
     * Changes the maximum of a volume's shadow storage. A maximum below what its protected copies need is refused
     * (their data would have to go: shrinking shadow storage is no way around protection).
     */
    public void resizeShadowStorage(String volume, ShadowStorageLimit limit) throws IOException {
        ManagedVolume v = volumes.get(volume);
        List<ShadowRecord> prot = catalog.copies().stream().filter(c -> c.volume().equals(volume) && isProtected(c))
                .toList();
        long kept = prot.isEmpty() ? 0 : v.shadowStorageKept();
        if (limit.resolve(v.size()) < kept) {
            String until = prot.stream().map(ShadowRecord::protectUntil).max(Comparator.naturalOrder()).orElseThrow();
            String copies = String.join(", ", prot.stream().map(r -> r.id() + " (until " + r.protectUntil() + ")")
                    .toList());
            events.append("resize-refused", "warning", "refused: resize shadowstorage --for " + volume + " --maxsize "
                    + limit + " would release protected shadow copies " + copies, Map.of("volume", volume,
                    "shadows", prot.stream().map(ShadowRecord::id).toList()));
            throw new ServiceException(VssError.PROTECTED, "refused: shadow storage of volume " + volume + " cannot "
                    + "shrink to " + limit + ": protected shadow cop" + (prot.size() == 1 ? "y " : "ies ") + copies
                    + " need " + dev.shadowcopy.volume.Sizes.format(kept) + " of it. Give a maximum of at least "
                    + dev.shadowcopy.volume.Sizes.format(kept) + ", or shrink it after " + until);
        }
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
            // the service's own mounts (previous versions, Samba) never hold a delete back: smbd keeps them open
            boolean automatic = automaticExposures.test(Path.of(r.exposedPath()));
            if (btrfs.find(r.volume()) != null) {
                Mounts.unmount(Path.of(r.exposedPath()), automatic, "cannot delete shadow copy " + r.id());
            } else {
                exposer.unexpose(ShadowCopyId.parse(r.id()), automatic);
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

    public void revert(String id, boolean force) throws IOException {
        ShadowRecord r = shadow(id);
        if (btrfs.find(r.volume()) != null) {
            throw new ServiceException(VssError.BAD_STATE, "shadow copy " + r.id() + " is a btrfs snapshot; the "
                    + "service does not revert btrfs subvolumes in place (open files would keep the old subvolume). "
                    + "Expose it and copy back, or replace the subvolume with `btrfs subvolume snapshot` of it");
        }
        ManagedVolume v = volumes.get(r.volume());
        Optional<Attachment> attached = attacher.find(volumeKey(v.name()));
        List<String> uses = attacher.users(volumeKey(v.name()));
        if (!uses.isEmpty() && !force) {
            throw new ServiceException(VssError.VOLUME_IN_USE, "revert refused: volume " + v.name() + " is attached as "
                    + attached.map(Attachment::loopDevice).orElse("?") + " and in use (" + String.join("; ", uses)
                    + "). Unmount it first, or use --force: the data would change under the file system, which then "
                    + "needs an fsck and may lose files");
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
        if (attached.isPresent()) {
            // the loop device may cache blocks read before the revert: drop them (BLKFLSBUF)
            runChecked("blockdev", "--flushbufs", attached.get().loopDevice());
        }
        syncWithEngine();
        events.append("volume-reverted", "warning", "volume " + v.name() + " reverted to shadow copy " + r.id()
                + " (" + later.size() + " later copies deleted)", Map.of("volume", v.name(), "shadow", r.id()));
    }

    public ShadowRecord expose(String id, Path mountPoint) throws IOException {
        ShadowRecord r = shadow(id);
        if (r.exposedPath() != null && automaticExposures.test(Path.of(r.exposedPath()))
                && !automaticExposures.test(mountPoint)) {
            unexpose(id, false); // a mount the service made for previous versions gives way to an explicit expose
            r = shadow(id);
        }
        if ((r.attributes() & Attributes.CLIENT_ACCESSIBLE) != 0) {
            // VSS refuses to expose client-accessible copies; a Linux admin has no Previous Versions tab, so we
            // allow it and note it here.
            LOG.log(System.Logger.Level.DEBUG, "exposing client-accessible copy {0}", r.id());
        }
        var f = btrfs.find(r.volume());
        if (f != null) {
            // A btrfs snapshot is a read-only file tree already: a read-only bind mount shows it.
            java.nio.file.Files.createDirectories(mountPoint);
            runChecked("mount", "--bind", "-o", "ro", f.path(ShadowCopyId.parse(r.id())).toString(),
                    mountPoint.toAbsolutePath().toString());
        } else {
            ManagedVolume v = volumes.get(r.volume());
            ShadowCopyId sid = ShadowCopyId.parse(r.id());
            exposer.expose(sid, v.shadowCopy(sid), mountPoint.toAbsolutePath());
        }
        catalog.updateCopy(r.id(), c -> c.withExposedPath(mountPoint.toAbsolutePath().toString(),
                (c.attributes() | Attributes.EXPOSED_LOCALLY) & ~Attributes.NOT_SURFACED));
        events.append("shadow-exposed", "info", "shadow copy " + r.id() + " exposed on " + mountPoint,
                Map.of("shadow", r.id(), "path", mountPoint.toString()));
        return shadow(r.id());
    }

    public void unexpose(String id, boolean force) throws IOException {
        ShadowRecord r = shadow(id);
        if (r.exposedPath() == null) {
            throw new ServiceException(VssError.BAD_STATE, "shadow copy " + r.id() + " is not exposed");
        }
        try {
            if (btrfs.find(r.volume()) != null) {
                Mounts.unmount(Path.of(r.exposedPath()), force, "cannot unexpose shadow copy " + r.id());
            } else {
                exposer.unexpose(ShadowCopyId.parse(r.id()), force);
            }
        } catch (InUseException e) {
            throw new ServiceException(VssError.VOLUME_IN_USE, e.getMessage());
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
        // Attached volumes and exposures stay: stop answering their I/O (it waits in the kernel for the next
        // run), then close the volumes. Requests being processed finish first; later ones are resent to the
        // next run (docs/service.md, "The data path").
        attacher.stop(Duration.ofSeconds(30));
        nbd.close();
        volumes.close();
        attacher.close();
        events.append("service-stopped", "info", "service stopped", Map.of());
        events.close();
        lock.close();
    }
}
