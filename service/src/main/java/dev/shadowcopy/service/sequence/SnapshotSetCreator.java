package dev.shadowcopy.service.sequence;

import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.SetRecord;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeManager;
import dev.shadowcopy.writer.WriterCall;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.writer.WriterRegistry;
import java.io.IOException;
import java.net.InetAddress;
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
 *
 * <p>This class validates a request, records the set as {@code creating} (durable before anything is made), runs a
 * {@link SetAttempt} — the state machine over {@link SetPhase} that makes the set or undoes it — and publishes the
 * outcome; {@link WriterCalls} talks to the writers.
 */
public final class SnapshotSetCreator {
    public static final int MAX_VOLUMES_PER_SET = 64;
    public static final int MAX_CLIENT_ACCESSIBLE_PER_VOLUME = 64;

    /** A finished set. */
    public record CreatedSet(SetRecord set, List<ShadowRecord> copies) {}

    private final VolumeManager volumes;
    private final WriterRegistry writers;
    private final Catalog catalog;
    private final EventLog events;
    private final FileSystemFreezer freezer;
    private final Timeouts timeouts;
    private final ReentrantLock creating = new ReentrantLock();
    private final WriterCalls writerCalls;
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
        this.writerCalls = new WriterCalls(writers, events, () -> this.locator, () -> this.foreign);
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
        SetRecord record = new SetRecord(setId, SetRecord.State.CREATING, Instant.now(), s.context().wireName(), ids,
                s.id(), null);
        try {
            catalog.putSet(record); // durable before the provider makes anything: the reconciler's map of what to undo
        } catch (IOException e) {
            throw new ServiceException(VssError.UNEXPECTED, "cannot record the set in the catalog: " + e.getMessage());
        }
        SetAttempt a = new SetAttempt(this, s, setId, set, others, ids);
        if (protectUntil != null) {
            protection.begin(ids.values(), protectUntil);
        }
        try {
            List<ShadowRecord> copies = a.run(protectUntil);
            SetRecord done = record.withState(SetRecord.State.CREATED, null);
            catalog.putCreated(done, copies);
            a.created();
            protection.end(ids.values()); // the catalog carries it from here
            s.snapshotted(setId.toString(), copies.stream().map(r -> r.id().toString()).toList());
            events.append("set-created", "info", "shadow copy set " + setId + " created: " + copies.size()
                    + " cop" + (copies.size() == 1 ? "y" : "ies") + " of " + String.join(", ", ids.keySet())
                    + " (" + copies.getFirst().consistency() + "-consistent, context " + s.context().wireName() + ")",
                    Map.of("set", setId.toString(), "copies", idText, "session", s.id().toString()));
            return new CreatedSet(done, copies);
        } catch (ServiceException e) {
            SetPhase reached = a.phase();
            a.abort(e);
            protection.end(ids.values());
            try {
                catalog.removeSet(setId);
            } catch (IOException io) {
                e.addSuppressed(io);
            }
            Map<String, Object> details = new LinkedHashMap<>();
            details.put("set", setId.toString());
            details.put("phase", reached.name().toLowerCase(java.util.Locale.ROOT));
            details.put("code", e.error().vssName());
            if (e.writer() != null) {
                details.put("writer", e.writer());
            }
            events.append("set-aborted", "error", "shadow copy set " + setId + " of " + String.join(", ", ids.keySet())
                    + " aborted: " + e.getMessage(), details);
            throw e;
        } catch (IOException | RuntimeException e) {
            ServiceException se = new ServiceException(VssError.UNEXPECTED, "creating the set failed: " + e, null, e);
            SetPhase reached = a.phase();
            a.abort(se);
            protection.end(ids.values());
            try {
                catalog.removeSet(setId);
            } catch (IOException io) {
                se.addSuppressed(io);
            }
            events.append("set-aborted", "error", "shadow copy set " + setId + " aborted: " + e, Map.of("set",
                    setId.toString(), "phase", reached.name().toLowerCase(java.util.Locale.ROOT)));
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
    void checkClientAccessible(Session s, List<ManagedVolume> set) throws ServiceException {
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

    /**
     * Sends one event to the writers taking part in the session's set (backup complete, backup shutdown); returns
     * the failures. Writers that were left out of the set hear nothing (VSS).
     */
    public List<WriterCall.Outcome> notify(Session s, WriterEvent event) {
        return writerCalls.notify(s, event, Instant.now().plus(timeouts.event()));
    }

    WriterCalls writerCalls() {
        return writerCalls;
    }

    FileSystemFreezer freezer() {
        return freezer;
    }

    AutoRecovery autoRecovery() {
        return autoRecovery;
    }

    EventLog events() {
        return events;
    }

    String machine() {
        return machine;
    }
}
