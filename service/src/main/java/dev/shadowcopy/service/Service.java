package dev.shadowcopy.service;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.attach.Exposer;
import dev.shadowcopy.attach.keep.DescriptorStore;
import dev.shadowcopy.attach.keep.HolderStore;
import dev.shadowcopy.attach.keep.SystemdStore;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.nbd.server.TlsCredentials;
import dev.shadowcopy.nbd.server.TlsMode;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.service.access.AccessConfig;
import dev.shadowcopy.service.access.NbdDoor;
import dev.shadowcopy.service.access.Peers;
import dev.shadowcopy.service.access.StateFiles;
import dev.shadowcopy.service.backup.Backups;
import dev.shadowcopy.service.backup.DeepVerify;
import dev.shadowcopy.service.backup.Migrations;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.Reconciler;
import dev.shadowcopy.service.ops.PreviousVersions;
import dev.shadowcopy.service.ops.Sessions;
import dev.shadowcopy.service.ops.ShadowCopies;
import dev.shadowcopy.service.ops.Status;
import dev.shadowcopy.service.ops.TakeOver;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.ops.Writers;
import dev.shadowcopy.service.provider.BtrfsVolumes;
import dev.shadowcopy.service.schedule.Scheduler;
import dev.shadowcopy.service.sequence.AutoRecovery;
import dev.shadowcopy.service.sequence.FileSystemFreezer;
import dev.shadowcopy.service.sequence.SessionManager;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.service.versions.CopyMounts;
import dev.shadowcopy.service.versions.SambaShares;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeManager;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterRegistry;
import dev.shadowcopy.writer.database.DatabaseWriterConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

/**
 * The shadow copy service, wired: the engine, the catalog, writers, the NBD server and the attacher, and the role
 * objects that operate on them — {@link Volumes}, {@link ShadowCopies}, {@link Sessions}, {@link Writers},
 * {@link Backups} — which the API calls. Every operation either completes or throws a
 * {@link dev.shadowcopy.service.error.ServiceException} with the VSS error and a message that says what to do.
 *
 * <p>Start order (docs/service.md, "Durability and crashes"): state lock, engine (which releases non-persistent
 * copies), catalog reconciled, attachments and exposures taken over, leftover frozen file systems thawed, writers,
 * NBD. Stop: sessions released, attached volumes' I/O paused (their devices stay), NBD, volumes, attacher.
 */
public final class Service implements AutoCloseable {
    private final DaemonConfig config;
    private final StateLock lock;
    private final EventLog events;
    private final VolumeManager engine;
    private final Catalog catalog;
    private final NbdServer nbd;
    private final Attacher attacher;
    private final Peers peers;
    private final AccessConfig access;
    private final Volumes volumes;
    private final ShadowCopies shadows;
    private final Sessions sessions;
    private final Writers writers;
    private final Backups backups;
    private final Migrations migrations;
    private final Status status;

    private Service(DaemonConfig config, StateLock lock, EventLog events, VolumeManager engine, Catalog catalog,
                    WriterRegistry registry, SnapshotSetCreator creator, NbdServer nbd, Attacher attacher,
                    Exposer exposer, BtrfsVolumes btrfs, Peers peers, AccessConfig access, Migrations migrations) {
        this.config = config;
        this.lock = lock;
        this.events = events;
        this.engine = engine;
        this.catalog = catalog;
        this.nbd = nbd;
        this.attacher = attacher;
        this.peers = peers;
        this.access = access;
        SessionManager open = new SessionManager();
        this.shadows = new ShadowCopies(catalog, events, engine, btrfs, attacher, exposer, open);
        this.volumes = new Volumes(engine, config.state().resolve("volumes"), btrfs, catalog, events, attacher, shadows);
        this.migrations = migrations;
        volumes.live(migrations);
        this.sessions = new Sessions(open, creator, catalog, events, shadows);
        this.writers = new Writers(registry, catalog, events);
        this.backups = new Backups(volumes, sessions, events, migrations, new DeepVerify(config.state(), attacher,
                events));
        this.status = new Status(config.state(), config.nbdSocket(), Instant.now(), volumes, shadows, sessions);
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

    /** Starts the service on its state directory (the order is in the class comment). */
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
        Migrations migrations = null;
        try {
            events = new EventLog(state.resolve("events.log"));
            EventLog ev = events;
            attacher = new Attacher(state, descriptorStore(state));
            Attacher att = attacher;
            FileSystemFreezer freezer = new FileSystemFreezer(state, volume ->
                    att.find(Volumes.key(volume)).map(Attachment::loopDevice));
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
            // live restores first: a volume being filled is taken over through its restore, not bare
            migrations = new Migrations(state, volumes, events);
            migrations.resume();
            Exposer exposer = new Exposer(state, attacher);
            TakeOver.attachmentsAndExposures(state, attacher, exposer, volumes, catalog, btrfs, events, migrations);
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
            migrations.serve(exports); // exported, and their copies go on
            creator.autoRecovery(new AutoRecovery(attacher, freezer, state));
            creator.foreignVolumes(btrfs);
            Service s = new Service(config, lock, events, volumes, catalog, writers, creator, nbd, attacher, exposer,
                    btrfs, peers, access, migrations);
            events.append("service-started", "info", "service started on " + state + " (pid "
                    + ProcessHandle.current().pid() + "; attached volumes kept by " + attacher.keeper() + ")", Map.of());
            return s;
        } catch (IOException | RuntimeException e) {
            if (attacher != null) {
                attacher.stop(Duration.ofSeconds(10)); // attachments taken over stay for the next start
                attacher.close();
            }
            if (migrations != null) {
                migrations.close();
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

    /**
     * Starts issue 18's roles on the running service: Samba shares, the service's own copy mounts (which an explicit
     * expose replaces and a delete takes away even while in use) and the scheduler, whose missed runs run now.
     * After {@link #start} (which took over the exposures these mounts are); the caller closes it before the service.
     */
    public PreviousVersions startPreviousVersions() throws IOException {
        Path state = config.state();
        VersionsWiring host = new VersionsWiring(catalog, events, volumes, shadows);
        SambaShares shares = SambaShares.open(state, LocalStorage.INSTANCE, p -> events
                .append("shares-unreadable", "error", p, Map.of()));
        CopyMounts mounts = CopyMounts.start(state, host, shares, Duration.ofSeconds(Integer.getInteger(
                PreviousVersions.IDLE_PROPERTY, 60)));
        shadows.automaticExposures(mounts::isAutomatic);
        Scheduler scheduler;
        try {
            scheduler = Scheduler.start(state, LocalStorage.INSTANCE, new ScheduleWiring(catalog, events, volumes,
                    shadows, sessions, backups));
        } catch (IOException | RuntimeException e) {
            mounts.close();
            throw e;
        }
        return new PreviousVersions(scheduler, shares, mounts, host, catalog, state);
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

    /** The catalog (for tests and the reconciler; operations go through the role objects). */
    public Catalog catalog() {
        return catalog;
    }

    public Volumes volumes() {
        return volumes;
    }

    public ShadowCopies shadows() {
        return shadows;
    }

    public Sessions sessions() {
        return sessions;
    }

    public Writers writers() {
        return writers;
    }

    public Backups backups() {
        return backups;
    }

    public Status status() {
        return status;
    }

    public NbdServer nbd() {
        return nbd;
    }

    @Override
    public void close() throws IOException {
        sessions.close();
        // Attached volumes and exposures stay: stop answering their I/O (it waits in the kernel for the next
        // run), then close the volumes. Requests being processed finish first; later ones are resent to the
        // next run (docs/service.md, "The data path").
        attacher.stop(Duration.ofSeconds(30));
        migrations.close(); // copies stop with their progress published; they resume at the next start
        nbd.close();
        engine.close();
        attacher.close();
        events.append("service-stopped", "info", "service stopped", Map.of());
        events.close();
        lock.close();
    }
}
