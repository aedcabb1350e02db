package dev.shadowcopy.service.sequence;

import dev.shadowcopy.service.ServiceException;
import dev.shadowcopy.service.VssError;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.SetRecord;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.volume.VolumeManager;
import dev.shadowcopy.volume.WriteHold;
import dev.shadowcopy.writer.EventContext;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterCall;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterRegistry;
import dev.shadowcopy.writer.WriterState;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Makes a shadow copy set: VSS's DoSnapshotSet with the writers around it.
 *
 * <pre>
 * Identify → PrepareForBackup → PrepareForSnapshot + provider prepare → Freeze (writers)
 *   → FIFREEZE file systems → hold writes on every volume, commit each, release (≤ commit timeout)
 *   → thaw file systems → Thaw (writers, within the freeze window) → complete copies → PostSnapshot
 * </pre>
 *
 * Any failure aborts the whole set: every gathered writer gets Abort, file systems are thawed, every copy
 * begun is aborted or deleted, and the requester gets an error naming the writer (or volume) and whether a
 * retry can help. (VSS skips Abort after a PrepareForSnapshot failure and keeps the set when PostSnapshot
 * fails; we abort in both cases so that no requester ever holds a set a writer did not agree to.)
 *
 * <p>Only one set is made at a time ({@code SNAPSHOT_SET_IN_PROGRESS} for a second creator, as in VSS).
 * Writes to all volumes of the set are held together on one thread, volumes in name order (a fixed order, so
 * two holders can never deadlock), which gives the set a single instant.
 */
public final class SnapshotSetCreator {
    public static final int MAX_VOLUMES_PER_SET = 64;
    public static final int MAX_CLIENT_ACCESSIBLE_PER_VOLUME = 64;
    public static final String PROVIDER = "shadowcopy-software";

    /** A finished set. */
    public record CreatedSet(SetRecord set, List<ShadowRecord> copies) {}

    private final VolumeManager volumes;
    private final WriterRegistry writers;
    private final Catalog catalog;
    private final EventLog events;
    private final FileSystemFreezer freezer;
    private final Timeouts timeouts;
    private final ReentrantLock creating = new ReentrantLock();
    private final ExecutorService calls = Executors.newVirtualThreadPerTaskExecutor();
    private final String machine;

    private volatile AutoRecovery autoRecovery;
    private volatile ForeignVolumes foreign = ForeignVolumes.NONE;
    private volatile dev.shadowcopy.writer.VolumeLocator locator = dev.shadowcopy.writer.VolumeLocator.NONE;
    private volatile CreationProtection protection = CreationProtection.NONE;

    /** Finds the managed volume of a path in a writer's metadata (through the volumes' attachments). */
    public void locator(dev.shadowcopy.writer.VolumeLocator l) {
        this.locator = l;
    }

    /** Keeps copies asked for with a protection out of the engine's reach while they are being made. */
    public void protection(CreationProtection p) {
        this.protection = p;
    }

    /** Volumes a kernel facility snapshots (btrfs subvolumes), usable in sets next to managed volumes. */
    public void foreignVolumes(ForeignVolumes f) {
        this.foreign = f;
    }

    /** Enables auto-recovery for writers that ask for it (the service's attacher makes copies writable). */
    public void autoRecovery(AutoRecovery recovery) {
        this.autoRecovery = recovery;
    }

    public SnapshotSetCreator(VolumeManager volumes, WriterRegistry writers, Catalog catalog, EventLog events,
                              FileSystemFreezer freezer, Timeouts timeouts) {
        this.volumes = volumes;
        this.writers = writers;
        this.catalog = catalog;
        this.events = events;
        this.freezer = freezer;
        this.timeouts = timeouts;
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        this.machine = host;
    }

    public Timeouts timeouts() {
        return timeouts;
    }

    /** True while a set is being made. */
    public boolean busy() {
        return creating.isLocked();
    }

    /**
     * Makes a set of copies of {@code volumeNames} in session {@code s} (whose lock the caller holds).
     *
     * @param protectUntil null, or the instant before which the copies cannot be deleted
     */
    public CreatedSet create(Session s, List<String> volumeNames, Instant protectUntil) throws ServiceException {
        if (!creating.tryLock()) {
            throw new ServiceException(VssError.SNAPSHOT_SET_IN_PROGRESS, "another shadow copy set is being created; "
                    + "retry when it is done (the CLI's --autoretry MINUTES does that)");
        }
        try {
            return createLocked(s, volumeNames, protectUntil);
        } finally {
            creating.unlock();
        }
    }

    private CreatedSet createLocked(Session s, List<String> volumeNames, Instant protectUntil) throws ServiceException {
        if (s.state() != Session.State.OPEN) {
            throw new ServiceException(VssError.BAD_STATE, "session " + s.id() + " is " + s.state().name()
                    .toLowerCase() + "; a session makes one set (open a new one)");
        }
        List<ForeignVolumes.Foreign> others = new ArrayList<>();
        List<String> managedNames = new ArrayList<>();
        for (String n : volumeNames) {
            ForeignVolumes.Foreign f = foreign.find(n);
            if (f != null) {
                if (others.stream().anyMatch(o -> o.name().equals(n))) {
                    throw new ServiceException(VssError.OBJECT_ALREADY_EXISTS, "volume " + n + " is named twice in the set");
                }
                others.add(f);
            } else {
                managedNames.add(n);
            }
        }
        List<ManagedVolume> set = managedNames.isEmpty() && !others.isEmpty() ? List.of() : validate(managedNames);
        UUID setId = UUID.randomUUID();
        Map<String, ShadowCopyId> ids = new TreeMap<>();
        for (ManagedVolume v : set) {
            ids.put(v.name(), ShadowCopyId.random());
        }
        for (ForeignVolumes.Foreign f : others) {
            ids.put(f.name(), ShadowCopyId.random());
        }
        Map<String, String> idText = new TreeMap<>();
        ids.forEach((k, v) -> idText.put(k, v.toString()));
        SetRecord record = new SetRecord(setId.toString(), "creating", Instant.now().toString(),
                s.context().wireName(), idText, s.id().toString(), null);
        try {
            catalog.putSet(record); // durable before the provider makes anything: the reconciler's map of what to undo
        } catch (IOException e) {
            throw new ServiceException(VssError.UNEXPECTED, "cannot record the set in the catalog: " + e.getMessage());
        }
        Attempt a = new Attempt(s, setId, set, ids);
        a.others = others;
        if (protectUntil != null) {
            protection.begin(idText.values(), protectUntil);
        }
        try {
            List<ShadowRecord> copies = a.run(protectUntil);
            SetRecord done = record.withState("created", null);
            catalog.putCreated(done, copies);
            protection.end(idText.values()); // the catalog carries it from here
            s.snapshotted(setId.toString(), copies.stream().map(ShadowRecord::id).toList());
            events.append("set-created", "info", "shadow copy set " + setId + " created: " + copies.size()
                    + " cop" + (copies.size() == 1 ? "y" : "ies") + " of " + String.join(", ", ids.keySet())
                    + " (" + copies.getFirst().consistency() + "-consistent, context " + s.context().wireName() + ")",
                    Map.of("set", setId.toString(), "copies", idText, "session", s.id().toString()));
            return new CreatedSet(done, copies);
        } catch (ServiceException e) {
            a.abort(e);
            protection.end(idText.values());
            try {
                catalog.removeSet(setId.toString());
            } catch (IOException io) {
                e.addSuppressed(io);
            }
            Map<String, Object> details = new LinkedHashMap<>();
            details.put("set", setId.toString());
            details.put("code", e.error().vssName());
            if (e.writer() != null) {
                details.put("writer", e.writer());
            }
            events.append("set-aborted", "error", "shadow copy set " + setId + " of " + String.join(", ", ids.keySet())
                    + " aborted: " + e.getMessage(), details);
            throw e;
        } catch (IOException | RuntimeException e) {
            ServiceException se = new ServiceException(VssError.UNEXPECTED, "creating the set failed: " + e, null, e);
            a.abort(se);
            protection.end(idText.values());
            try {
                catalog.removeSet(setId.toString());
            } catch (IOException io) {
                se.addSuppressed(io);
            }
            events.append("set-aborted", "error", "shadow copy set " + setId + " aborted: " + e, Map.of());
            throw se;
        }
    }

    private List<ManagedVolume> validate(List<String> names) throws ServiceException {
        if (names.isEmpty()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "name at least one volume for the set");
        }
        if (names.size() > MAX_VOLUMES_PER_SET) {
            throw new ServiceException(VssError.MAXIMUM_NUMBER_OF_VOLUMES_REACHED, "a set holds at most "
                    + MAX_VOLUMES_PER_SET + " volumes; " + names.size() + " were named");
        }
        Set<String> seen = new HashSet<>();
        List<ManagedVolume> out = new ArrayList<>();
        for (String n : names) {
            if (!seen.add(n)) {
                throw new ServiceException(VssError.OBJECT_ALREADY_EXISTS, "volume " + n + " is named twice in the set");
            }
            ManagedVolume v = volumes.find(n).orElseThrow(() -> new ServiceException(VssError.OBJECT_NOT_FOUND,
                    "no volume named " + n + " (see 'shadowcopy list volumes')"));
            if (v.incomplete() != null) {
                throw new ServiceException(VssError.BAD_STATE, "volume " + n + " is incomplete and cannot be copied: "
                        + v.incomplete());
            }
            int have = v.shadowCopies().size();
            if (have >= v.config().maxShadowCopies()) {
                throw new ServiceException(VssError.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "volume " + n + " already has "
                        + have + " shadow copies, its maximum; delete some first (delete shadows --for " + n
                        + " --oldest)");
            }
            out.add(v);
        }
        out.sort(Comparator.comparing(ManagedVolume::name)); // the hold order: fixed, so never a deadlock
        return out;
    }

    /** Checks the client-accessible limit (VSS allows 64 per volume) once the context is known. */
    private void checkClientAccessible(Session s, List<ManagedVolume> set) throws ServiceException {
        if (!s.context().clientAccessible()) {
            return;
        }
        for (ManagedVolume v : set) {
            long n = catalog.copies().stream().filter(c -> c.volume().equals(v.name())
                    && (c.attributes() & Attributes.CLIENT_ACCESSIBLE) != 0).count();
            if (n >= MAX_CLIENT_ACCESSIBLE_PER_VOLUME) {
                throw new ServiceException(VssError.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "volume " + v.name()
                        + " already has " + n + " client-accessible shadow copies, the maximum; delete some first");
            }
        }
    }

    /** One run of the sequence and everything needed to undo it. */
    private final class Attempt {
        final Session s;
        final UUID setId;
        final List<ManagedVolume> set;
        final Map<String, ShadowCopyId> ids;
        final List<String> names;
        final Map<ManagedVolume, VolumeEngine.PendingShadowCopy> pending = new LinkedHashMap<>();
        final Map<ManagedVolume, ShadowCopyInfo> completed = new LinkedHashMap<>();
        List<Writer> involved = List.of();
        /** Kernel-snapshotted volumes of the set, and the copies made of them. */
        List<ForeignVolumes.Foreign> others = List.of();
        final Map<ForeignVolumes.Foreign, ShadowCopyId> othersDone = new LinkedHashMap<>();
        List<Path> frozen = List.of();
        Map<String, String> copyText = Map.of();
        /** Original mount point → writable mount of its copy, during auto-recovery's PostSnapshot. */
        Map<String, String> recoveryMounts = Map.of();
        boolean recovered;
        /** The set's instant: taken with every volume's writes held, so it is the same for all its copies. */
        Instant instant;

        Attempt(Session s, UUID setId, List<ManagedVolume> set, Map<String, ShadowCopyId> ids) {
            this.s = s;
            this.setId = setId;
            this.set = set;
            this.ids = ids;
            this.names = new ArrayList<>(set.stream().map(ManagedVolume::name).toList());
        }

        List<ShadowRecord> run(Instant protectUntil) throws IOException {
            for (ForeignVolumes.Foreign f : others) {
                if (!names.contains(f.name())) {
                    names.add(f.name());
                }
            }
            checkClientAccessible(s, set);
            boolean withWriters = s.context().writers();
            if (withWriters) {
                involved = coverage(gather(s));
                s.participants(involved);
                if (!s.prepared()) {
                    phase(WriterEvent.PREPARE_FOR_BACKUP, deadline(timeouts.event()));
                    s.prepared(true);
                }
                phase(WriterEvent.PREPARE_FOR_SNAPSHOT, deadline(timeouts.event()));
            }
            for (ManagedVolume v : set) {
                try {
                    pending.put(v, v.prepareShadowCopy(ids.get(v.name()), s.context().persistent()));
                } catch (VolumeException e) {
                    throw providerError(v, e);
                }
            }
            Instant freezeDeadline = deadline(timeouts.freeze());
            if (withWriters) {
                phase(WriterEvent.FREEZE, freezeDeadline);
            }
            try {
                frozen = freezer.freeze(freezer.mountsOf(names), deadline(timeouts.flush()));
            } catch (FileSystemFreezer.FlushTimeoutException e) {
                throw new ServiceException(VssError.FLUSH_WRITES_TIMEOUT, e.getMessage() + " (limit "
                        + timeouts.flush().toMillis() + " ms, --flush-timeout); retry when the device is responsive",
                        null, e);
            }
            try {
                commit();
            } finally {
                List<Path> f = frozen;
                frozen = List.of();
                freezer.thaw(f);
            }
            if (withWriters) {
                if (Instant.now().isAfter(freezeDeadline)) {
                    throw new ServiceException(VssError.WRITERERROR_TIMEOUT, "the writers were frozen longer than "
                            + timeouts.freeze().toSeconds() + " s (the freeze window) before the copies were committed; "
                            + "retry, or raise --freeze-timeout");
                }
                phase(WriterEvent.THAW, freezeDeadline);
            }
            for (ManagedVolume v : set) {
                try {
                    completed.put(v, v.completeShadowCopy(pending.remove(v)));
                } catch (VolumeException e) {
                    throw providerError(v, e);
                }
            }
            copyText = new TreeMap<>();
            for (var e : completed.entrySet()) {
                copyText.put(e.getKey().name(), e.getValue().id().toString());
            }
            for (var e : othersDone.entrySet()) {
                copyText.put(e.getKey().name(), e.getValue().toString());
            }
            if (withWriters) {
                AutoRecovery ar = autoRecovery;
                AutoRecovery.Open open = null;
                if (ar != null && (s.context().value() & Attributes.NO_AUTORECOVERY) == 0
                        && involved.stream().anyMatch(Writer::autoRecovery)) {
                    try {
                        open = ar.open(completed);
                    } catch (IOException e) {
                        throw new ServiceException(VssError.AUTORECOVERY_FAILED, "the copies could not be made "
                                + "writable for auto-recovery: " + e.getMessage(), null, e);
                    }
                    recoveryMounts = open.mounts();
                }
                try {
                    phase(WriterEvent.POST_SNAPSHOT, deadline(timeouts.event()));
                    if (open != null) {
                        ar.seal(open);
                        recovered = true;
                    }
                } catch (ServiceException e) {
                    if (open != null) {
                        ar.abort(open);
                    }
                    throw e;
                } catch (IOException e) {
                    ar.abort(open);
                    throw new ServiceException(VssError.AUTORECOVERY_FAILED, "auto-recovery of the copies failed: "
                            + e.getMessage(), null, e);
                } finally {
                    recoveryMounts = Map.of();
                }
            }
            return records(protectUntil);
        }

        /**
         * Holds writes on every managed volume, fixes the instant on each, makes the kernel providers' snapshots,
         * releases the writes — all within the commit limit, enforced while writes are held: the holds are released
         * at the deadline whatever a provider is doing (a btrfs snapshot on a frozen or hung file system waits in the
         * kernel), the set aborts with HOLD_WRITES_TIMEOUT, and a snapshot that still completes later is deleted.
         */
        private void commit() throws ServiceException {
            Instant start = Instant.now();
            Instant deadline = start.plus(timeouts.commit());
            List<WriteHold> holds = new ArrayList<>();
            try {
                for (ManagedVolume v : set) {
                    Duration left = timeouts.commit().minus(Duration.between(start, Instant.now()));
                    if (left.isNegative()) {
                        left = Duration.ZERO;
                    }
                    try {
                        holds.add(v.holdWrites(left));
                    } catch (VolumeException e) {
                        throw new ServiceException(VssError.HOLD_WRITES_TIMEOUT, "writes to the set's volumes could "
                                + "not all be held within " + timeouts.commit().toMillis() + " ms (volume " + v.name()
                                + " was still busy); retry when the volumes are less busy", null, e);
                    } catch (IOException e) {
                        throw providerError(v, e);
                    }
                }
                instant = Instant.now();
                for (int i = 0; i < set.size(); i++) {
                    ManagedVolume v = set.get(i);
                    try {
                        v.commitShadowCopy(pending.get(v), holds.get(i));
                    } catch (IOException e) {
                        throw providerError(v, e);
                    }
                }
                snapshotForeign(deadline); // in the same window: writers frozen, managed writes held
                if (Duration.between(start, Instant.now()).compareTo(timeouts.commit()) > 0) {
                    throw new ServiceException(VssError.HOLD_WRITES_TIMEOUT, "the commit held writes longer than "
                            + timeouts.commit().toMillis() + " ms; the set was abandoned");
                }
            } finally {
                for (WriteHold h : holds.reversed()) {
                    h.close();
                }
            }
        }

        /**
         * The kernel providers' snapshots, on a thread of their own, waited for until {@code deadline}. At the
         * deadline the snapshots already made are left to {@link #abort} and the one under way is abandoned: when it
         * returns, that thread deletes it (it belongs to a set that no longer exists).
         */
        private void snapshotForeign(Instant deadline) throws ServiceException {
            if (others.isEmpty()) {
                return;
            }
            ForeignSnapshots run = new ForeignSnapshots(others, ids, setId);
            Thread.ofPlatform().daemon().name("provider-commit-" + setId).start(run);
            synchronized (run) {
                try {
                    long left;
                    while (!run.done && (left = Duration.between(Instant.now(), deadline).toMillis()) > 0) {
                        run.wait(left);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                othersDone.putAll(run.made);
                if (!run.done) {
                    run.abandoned = true;
                    throw new ServiceException(VssError.HOLD_WRITES_TIMEOUT, "the provider commit of volume "
                            + run.current.name() + " (" + run.current.description() + ") did not finish within "
                            + timeouts.commit().toMillis() + " ms (--commit-timeout); writes were released and the set "
                            + "abandoned. Retry when its file system is responsive (is it frozen?)");
                }
                if (run.failure != null) {
                    throw new ServiceException(VssError.UNEXPECTED_PROVIDER_ERROR, "volume " + run.current.name() + ": "
                            + run.failure.getMessage(), null, run.failure);
                }
            }
        }

        private ServiceException providerError(ManagedVolume v, IOException e) {
            if (e instanceof VolumeException ve) {
                // during a creation a busy or mid-revert volume is "in use", and anything unnamed is the provider's
                VssError err = switch (VssError.of(ve.code())) {
                    case BAD_STATE -> VssError.VOLUME_IN_USE;
                    case UNEXPECTED, OBJECT_NOT_FOUND, OBJECT_ALREADY_EXISTS, INVALID_ARGUMENT ->
                            VssError.UNEXPECTED_PROVIDER_ERROR;
                    default -> VssError.of(ve.code());
                };
                return new ServiceException(err, "volume " + v.name() + ": " + e.getMessage(), null, e);
            }
            return new ServiceException(VssError.UNEXPECTED_PROVIDER_ERROR, "volume " + v.name() + ": " + e, null, e);
        }

        private List<ShadowRecord> records(Instant protectUntil) {
            boolean app = s.context().writers() && !involved.isEmpty()
                    && s.participantStatus().stream().noneMatch(w -> w.state().failed());
            List<ShadowRecord.WriterOutcome> outcomes = s.participantStatus().stream()
                    .map(w -> new ShadowRecord.WriterOutcome(w.name(), w.kind(), w.state().name(), w.failure().name(),
                            w.message())).toList();
            int attrs = s.context().value() | Attributes.DIFFERENTIAL | Attributes.NOT_SURFACED
                    | (recovered ? Attributes.AUTORECOVER : 0);
            List<ShadowRecord> out = new ArrayList<>();
            for (var e : completed.entrySet()) {
                ShadowCopyInfo info = e.getValue();
                int a = attrs | (e.getKey().config().layout() == dev.shadowcopy.volume.VolumeLayout.SPLIT_MIRROR
                        ? Attributes.PLEX : 0);
                out.add(new ShadowRecord(info.id().toString(), setId.toString(), e.getKey().name(),
                        dev.shadowcopy.service.provider.Providers.of(e.getKey()).name(),
                        instant.toString(), s.context().wireName(), a, app ? "application" : "crash",
                        outcomes, protectUntil == null ? null : protectUntil.toString(), set.size() + others.size(), machine, "created",
                        null, s.context().autoRelease() ? s.id().toString() : null));
            }
            for (var e : othersDone.entrySet()) {
                out.add(new ShadowRecord(e.getValue().toString(), setId.toString(), e.getKey().name(),
                        e.getKey().provider(), instant.toString(), s.context().wireName(),
                        s.context().value() | Attributes.DIFFERENTIAL | Attributes.NOT_SURFACED,
                        app ? "application" : "crash", outcomes, protectUntil == null ? null : protectUntil.toString(),
                        set.size() + others.size(), machine, "created", null,
                        s.context().autoRelease() ? s.id().toString() : null));
            }
            return out;
        }

        /**
         * Which writers take part. A writer's components are placed on volumes through its metadata: a file's
         * {@code volume} when the writer names it, else the volume its path is on (the file system of an attached
         * volume, or a btrfs subvolume) — for hooks and external writers alike. A writer takes part only in a set that
         * contains all of those volumes (a database split across volumes copied at different instants is no copy at
         * all); a set with none of them leaves it out, and so does every set when its files are on no volume the
         * service copies; a set with some of them is refused. A writer that describes no files (a plain hook) takes
         * part in every set.
         */
        private List<Writer> coverage(List<Writer> ws) throws ServiceException {
            List<Writer> out = new ArrayList<>();
            Map<String, dev.shadowcopy.writer.WriterMetadata> md = s.metadata();
            for (Writer w : ws) {
                java.util.Set<String> vols = new java.util.TreeSet<>();
                boolean describesFiles = false;
                dev.shadowcopy.writer.WriterMetadata m = md.get(w.name());
                if (m != null) {
                    for (var c : m.components()) {
                        for (var f : c.files()) {
                            describesFiles = true;
                            String v = f.volume() != null ? f.volume() : volumeOf(f.path());
                            if (v != null) {
                                vols.add(v);
                            }
                        }
                    }
                }
                java.util.Set<String> missing = new java.util.TreeSet<>(vols);
                missing.removeAll(names);
                if (!describesFiles || (!vols.isEmpty() && missing.isEmpty())) {
                    out.add(w);
                } else if (!vols.isEmpty() && missing.size() < vols.size()) {
                    throw new ServiceException(VssError.WRITERERROR_INCONSISTENTSNAPSHOT, "writer " + w.name() + " has "
                            + "components on volumes " + String.join(", ", vols) + "; the set must contain all of them "
                            + "(missing: " + String.join(", ", missing) + ")", w.name(), null);
                }
            }
            return out;
        }

        /** The managed or kernel-snapshotted volume a metadata path lives on, or null. */
        private String volumeOf(String path) {
            Path p;
            try {
                p = Path.of(path);
            } catch (RuntimeException e) {
                return null;
            }
            var managed = locator.volumeOf(p);
            if (managed.isPresent()) {
                return managed.get();
            }
            for (ForeignVolumes.Foreign f : foreign.list()) {
                if (f.holds(p)) {
                    return f.name();
                }
            }
            return null;
        }

        /** Identify: writers that fail it drop out of the session (as in VSS); excluded writers are skipped. */
        private List<Writer> gather(Session s) throws ServiceException {
            if (s.gathered() != null) {
                return s.gathered().stream().filter(Writer::alive).toList();
            }
            List<Writer> candidates = writers.current().stream().filter(w -> !s.excludedWriters().contains(w.name()))
                    .toList();
            for (String v : s.verifiedWriters()) {
                if (candidates.stream().noneMatch(w -> w.name().equals(v))) {
                    throw new ServiceException(VssError.WRITER_INFRASTRUCTURE, "writer " + v + " must take part "
                            + "(writer verify) but is not registered", v, null);
                }
            }
            Instant deadline = deadline(timeouts.event());
            List<Writer> ok = new ArrayList<>();
            for (WriterCall.Outcome o : callAll(candidates, WriterEvent.IDENTIFY, deadline)) {
                if (o.ok()) {
                    ok.add(o.writer());
                    if (o.metadata() != null) {
                        s.metadata(o.writer().name(), o.metadata());
                    }
                    s.status(o.writer(), WriterState.STABLE, WriterFailure.NONE, null);
                } else if (s.verifiedWriters().contains(o.writer().name())) {
                    s.status(o.writer(), WriterState.FAILED_AT_IDENTIFY, o.failure(), o.message());
                    throw writerError(o);
                } else {
                    events.append("writer-failed", "warning", "writer " + o.writer().name() + " failed identify and "
                            + "takes no part in the set: " + o.message(), Map.of("writer", o.writer().name()));
                }
            }
            s.gathered(ok);
            return ok;
        }

        private void phase(WriterEvent event, Instant deadline) throws ServiceException {
            WriterCall.Outcome firstFailure = null;
            for (WriterCall.Outcome o : callAll(involved, event, deadline)) {
                if (o.ok()) {
                    s.status(o.writer(), event.stateAfter(), WriterFailure.NONE, null);
                } else {
                    s.status(o.writer(), event.failedState(), o.failure(), o.message());
                    if (firstFailure == null) {
                        firstFailure = o;
                    }
                }
            }
            if (firstFailure != null) {
                throw writerError(firstFailure);
            }
        }

        private List<WriterCall.Outcome> callAll(List<Writer> ws, WriterEvent event, Instant deadline) {
            return SnapshotSetCreator.this.callAll(ws, event, new EventContext(event == WriterEvent.IDENTIFY ? null
                    : setId, names, s.context().wireName(), s.backupType(), copyText, deadline, s.components(),
                    recoveryMounts));
        }

        private ServiceException writerError(WriterCall.Outcome o) {
            VssError err = o.failure().error() == null ? VssError.UNEXPECTED_WRITER_ERROR : o.failure().error();
            String retry = err.retryable() ? "; retrying can help" : "; retrying will not help until the writer is fixed";
            return new ServiceException(err, "writer " + o.writer().name() + " failed at " + o.event().wireName() + ": "
                    + o.message() + retry, o.writer().name(), null);
        }

        /** Undoes everything: Abort to writers, thaw, abort or delete copies. Never throws. */
        void abort(ServiceException cause) {
            if (!frozen.isEmpty()) {
                try {
                    freezer.thaw(frozen);
                } catch (IOException e) {
                    cause.addSuppressed(e);
                }
            }
            for (var e : pending.entrySet()) {
                e.getKey().abortShadowCopy(e.getValue());
            }
            for (var e : completed.entrySet()) {
                try {
                    e.getKey().deleteShadowCopy(e.getValue().id());
                } catch (IOException ex) {
                    cause.addSuppressed(ex);
                }
            }
            for (var e : othersDone.entrySet()) {
                try {
                    e.getKey().delete(e.getValue());
                } catch (IOException ex) {
                    cause.addSuppressed(ex);
                }
            }
            if (!involved.isEmpty()) {
                for (WriterCall.Outcome o : callAll(involved, WriterEvent.ABORT, deadline(timeouts.abort()))) {
                    if (!o.ok()) {
                        events.append("writer-abort-failed", "warning", "writer " + o.writer().name()
                                + " failed to handle abort: " + o.message(), Map.of("writer", o.writer().name()));
                    } else if (!s.writerStatus().stream().anyMatch(w -> w.name().equals(o.writer().name())
                            && w.state().failed())) {
                        s.status(o.writer(), WriterState.STABLE, null, null);
                    }
                }
            }
            s.gathered(List.of()); // a failed session's writers are not called again
            s.participants(List.of());
            s.state(Session.State.COMPLETED);
        }
    }

    /**
     * The kernel providers' part of a commit (btrfs snapshots), on its own thread so that the commit's deadline
     * holds; fields guarded by this object's monitor. A snapshot that finishes after the commit was abandoned is
     * deleted here.
     */
    private final class ForeignSnapshots implements Runnable {
        final List<ForeignVolumes.Foreign> volumes;
        final Map<String, ShadowCopyId> ids;
        final UUID setId;
        final Map<ForeignVolumes.Foreign, ShadowCopyId> made = new LinkedHashMap<>();
        ForeignVolumes.Foreign current;
        IOException failure;
        boolean done;
        boolean abandoned;

        ForeignSnapshots(List<ForeignVolumes.Foreign> volumes, Map<String, ShadowCopyId> ids, UUID setId) {
            this.volumes = volumes;
            this.ids = ids;
            this.setId = setId;
        }

        @Override
        public void run() {
            try {
                for (ForeignVolumes.Foreign f : volumes) {
                    ShadowCopyId id = ids.get(f.name());
                    synchronized (this) {
                        if (abandoned) {
                            return;
                        }
                        current = f;
                    }
                    try {
                        f.snapshot(id);
                    } catch (IOException | RuntimeException e) {
                        synchronized (this) {
                            failure = e instanceof IOException io ? io : new IOException(e.toString(), e);
                        }
                        return;
                    }
                    boolean late;
                    synchronized (this) {
                        late = abandoned;
                        if (!late) {
                            made.put(f, id);
                        }
                    }
                    if (late) {
                        undoLate(f, id);
                        return;
                    }
                }
            } finally {
                synchronized (this) {
                    done = true;
                    notifyAll();
                }
            }
        }

        private void undoLate(ForeignVolumes.Foreign f, ShadowCopyId id) {
            try {
                f.delete(id);
                events.append("late-snapshot-deleted", "warning", "the " + f.provider() + " snapshot " + id
                        + " of volume " + f.name() + " finished after set " + setId + " had been abandoned at the "
                        + "commit deadline; it was deleted", Map.of("set", setId.toString(), "shadow", id.toString(),
                        "volume", f.name()));
            } catch (IOException e) {
                events.append("late-snapshot-left", "error", "the " + f.provider() + " snapshot " + id + " of volume "
                        + f.name() + " finished after set " + setId + " had been abandoned, and could not be deleted: "
                        + e.getMessage() + "; delete it by hand (" + f.path(id) + ")", Map.of("set", setId.toString(),
                        "shadow", id.toString(), "volume", f.name()));
            }
        }
    }

    /**
     * Sends one event to the writers taking part in the session's set (backup complete, backup shutdown); returns
     * the failures. Writers that were left out of the set hear nothing (VSS).
     */
    public List<WriterCall.Outcome> notify(Session s, WriterEvent event) {
        List<Writer> ws = s.participants().stream().filter(Writer::alive).toList();
        EventContext ctx = new EventContext(s.setId() == null ? null : UUID.fromString(s.setId()), List.of(),
                s.context().wireName(), s.backupType(), Map.of(), deadline(timeouts.event()), s.components(), Map.of());
        List<WriterCall.Outcome> failures = new ArrayList<>();
        for (WriterCall.Outcome o : callAll(ws, event, ctx)) {
            if (o.ok()) {
                s.status(o.writer(), event.stateAfter(), null, null);
            } else {
                s.status(o.writer(), event.failedState(), o.failure(), o.message());
                failures.add(o);
            }
        }
        return failures;
    }

    /** Calls every writer at once, each on its own thread under the context's deadline; outcomes in order. */
    private List<WriterCall.Outcome> callAll(List<Writer> ws, WriterEvent event, EventContext ctx) {
        List<Future<WriterCall.Outcome>> fs = new ArrayList<>();
        for (Writer w : ws) {
            fs.add(calls.submit(() -> WriterCall.call(w, event, ctx)));
        }
        List<WriterCall.Outcome> out = new ArrayList<>();
        for (Future<WriterCall.Outcome> f : fs) {
            try {
                out.add(f.get()); // bounded: WriterCall itself stops waiting at the deadline
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while calling writers", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("writer call failed", e.getCause());
            }
        }
        return out;
    }

    private static Instant deadline(Duration d) {
        return Instant.now().plus(d);
    }
}
