package dev.shadowcopy.service.sequence;

import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.service.provider.Providers;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.WriteHold;
import dev.shadowcopy.writer.EventContext;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterEvent;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;

/**
 * One creation of a shadow copy set as an explicit state machine over {@link SetPhase}: one method per transition,
 * each entering its phase before its first side effect ({@link #enter} rejects any other order), and
 * {@link #abort} as one switch over the phase reached, undoing the latest phase first.
 *
 * <p>What each phase made is kept in the fields below ({@code pending}, {@code completed}, {@code foreignMade},
 * {@code frozen}, {@code involved}); the phase says which of them can hold anything. Not thread-safe: the creator
 * runs one attempt at a time on the requester's thread.
 */
final class SetAttempt {
    private final SnapshotSetCreator creator;
    private final Session s;
    private final UUID setId;
    private final List<ManagedVolume> set;
    private final List<ForeignVolumes.Foreign> foreign;
    private final Map<String, ShadowCopyId> ids;
    /** Every volume of the set, managed ones first (in hold order), then kernel-snapshotted ones. */
    private final List<String> names;
    private final boolean withWriters;

    private SetPhase phase = SetPhase.RECORDED;
    private final Map<ManagedVolume, VolumeEngine.PendingShadowCopy> pending = new LinkedHashMap<>();
    private final Map<ManagedVolume, ShadowCopyInfo> completed = new LinkedHashMap<>();
    private final Map<ForeignVolumes.Foreign, ShadowCopyId> foreignMade = new LinkedHashMap<>();
    private List<Writer> involved = List.of();
    private List<Path> frozen = List.of();
    private Map<String, String> copyText = Map.of();
    /** Original mount point → writable mount of its copy, during auto-recovery's PostSnapshot. */
    private Map<String, String> recoveryMounts = Map.of();
    private boolean recovered;
    /** When the writers were frozen plus the freeze window: Thaw must come before it. */
    private Instant freezeDeadline;
    /** The set's instant: taken with every volume's writes held, so it is the same for all its copies. */
    private Instant instant;

    SetAttempt(SnapshotSetCreator creator, Session s, UUID setId, List<ManagedVolume> set,
               List<ForeignVolumes.Foreign> foreign, Map<String, ShadowCopyId> ids) {
        this.creator = creator;
        this.s = s;
        this.setId = setId;
        this.set = set;
        this.foreign = foreign;
        this.ids = ids;
        this.names = new ArrayList<>(set.stream().map(ManagedVolume::name).toList());
        for (ForeignVolumes.Foreign f : foreign) {
            if (!names.contains(f.name())) {
                names.add(f.name());
            }
        }
        this.withWriters = s.context().writers();
    }

    SetPhase phase() {
        return phase;
    }

    /** Runs every phase to RECORDING and returns the copies' records (the creator publishes them). */
    List<ShadowRecord> run(Instant protectUntil) throws IOException {
        gather();
        prepare();
        freeze();
        flush();
        try {
            commit();
        } finally {
            thawFileSystems();
        }
        thaw();
        complete();
        postSnapshot();
        enter(SetPhase.RECORDING);
        return records(protectUntil);
    }

    /** Moves to {@code next}, which must be the phase after the current one ({@link SetPhase#to}). */
    private void enter(SetPhase next) {
        phase = phase.to(next);
    }

    /** The set is recorded created: nothing to undo any more. */
    void created() {
        enter(SetPhase.CREATED);
    }

    // ------------------------------------------------------------------ transitions

    private void gather() throws ServiceException {
        enter(SetPhase.GATHERING);
        creator.checkClientAccessible(s, set);
        if (withWriters) {
            involved = creator.writerCalls().coverage(s, creator.writerCalls().gather(s, context(WriterEvent.IDENTIFY,
                    deadline(creator.timeouts().event()))), names);
            s.participants(involved);
        }
    }

    private void prepare() throws IOException {
        enter(SetPhase.PREPARING);
        if (withWriters) {
            if (!s.prepared()) {
                writerPhase(WriterEvent.PREPARE_FOR_BACKUP, deadline(creator.timeouts().event()));
                s.prepared(true);
            }
            writerPhase(WriterEvent.PREPARE_FOR_SNAPSHOT, deadline(creator.timeouts().event()));
        }
        for (ManagedVolume v : set) {
            try {
                pending.put(v, v.prepareShadowCopy(ids.get(v.name()), s.context().persistent()));
            } catch (VolumeException e) {
                throw providerError(v, e);
            }
        }
    }

    private void freeze() throws ServiceException {
        enter(SetPhase.FREEZING);
        freezeDeadline = deadline(creator.timeouts().freeze());
        if (withWriters) {
            writerPhase(WriterEvent.FREEZE, freezeDeadline);
        }
    }

    private void flush() throws IOException {
        enter(SetPhase.FLUSHING);
        FileSystemFreezer freezer = creator.freezer();
        try {
            frozen = freezer.freeze(freezer.mountsOf(names), deadline(creator.timeouts().flush()));
        } catch (FileSystemFreezer.FlushTimeoutException e) {
            throw new ServiceException(VssError.FLUSH_WRITES_TIMEOUT, e.getMessage() + " (limit "
                    + creator.timeouts().flush().toMillis() + " ms, --flush-timeout); retry when the device is "
                    + "responsive", null, e);
        }
    }

    /**
     * Holds writes on every managed volume, fixes the instant on each, makes the kernel providers' snapshots,
     * releases the writes — all within the commit limit, enforced while writes are held: the holds are released
     * at the deadline whatever a provider is doing (a btrfs snapshot on a frozen or hung file system waits in the
     * kernel), the set aborts with HOLD_WRITES_TIMEOUT, and a snapshot that still completes later is deleted.
     */
    private void commit() throws ServiceException {
        enter(SetPhase.COMMITTING);
        Duration limit = creator.timeouts().commit();
        Instant start = Instant.now();
        Instant deadline = start.plus(limit);
        List<WriteHold> holds = new ArrayList<>();
        try {
            for (ManagedVolume v : set) {
                Duration left = limit.minus(Duration.between(start, Instant.now()));
                if (left.isNegative()) {
                    left = Duration.ZERO;
                }
                try {
                    holds.add(v.holdWrites(left));
                } catch (VolumeException e) {
                    throw new ServiceException(VssError.HOLD_WRITES_TIMEOUT, "writes to the set's volumes could "
                            + "not all be held within " + limit.toMillis() + " ms (volume " + v.name()
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
            if (Duration.between(start, Instant.now()).compareTo(limit) > 0) {
                throw new ServiceException(VssError.HOLD_WRITES_TIMEOUT, "the commit held writes longer than "
                        + limit.toMillis() + " ms; the set was abandoned");
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
        if (foreign.isEmpty()) {
            return;
        }
        ForeignSnapshots run = new ForeignSnapshots(foreign, ids, setId, creator.events());
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
            foreignMade.putAll(run.made);
            if (!run.done) {
                run.abandoned = true;
                throw new ServiceException(VssError.HOLD_WRITES_TIMEOUT, "the provider commit of volume "
                        + run.current.name() + " (" + run.current.description() + ") did not finish within "
                        + creator.timeouts().commit().toMillis() + " ms (--commit-timeout); writes were released and "
                        + "the set abandoned. Retry when its file system is responsive (is it frozen?)");
            }
            if (run.failure != null) {
                throw new ServiceException(VssError.UNEXPECTED_PROVIDER_ERROR, "volume " + run.current.name() + ": "
                        + run.failure.getMessage(), null, run.failure);
            }
        }
    }

    /** File systems are thawed whatever the commit did (part of the commit phase, in its {@code finally}). */
    private void thawFileSystems() throws IOException {
        List<Path> f = frozen;
        frozen = List.of();
        creator.freezer().thaw(f);
    }

    private void thaw() throws ServiceException {
        enter(SetPhase.THAWING);
        if (withWriters) {
            if (Instant.now().isAfter(freezeDeadline)) {
                throw new ServiceException(VssError.WRITERERROR_TIMEOUT, "the writers were frozen longer than "
                        + creator.timeouts().freeze().toSeconds() + " s (the freeze window) before the copies were "
                        + "committed; retry, or raise --freeze-timeout");
            }
            writerPhase(WriterEvent.THAW, freezeDeadline);
        }
    }

    private void complete() throws IOException {
        enter(SetPhase.COMPLETING);
        for (ManagedVolume v : set) {
            try {
                completed.put(v, v.completeShadowCopy(pending.remove(v)));
            } catch (VolumeException e) {
                throw providerError(v, e);
            }
        }
        Map<String, String> text = new TreeMap<>();
        completed.forEach((v, info) -> text.put(v.name(), info.id().toString()));
        foreignMade.forEach((f, id) -> text.put(f.name(), id.toString()));
        copyText = text;
    }

    private void postSnapshot() throws ServiceException {
        enter(SetPhase.POST_SNAPSHOT);
        if (!withWriters) {
            return;
        }
        AutoRecovery ar = creator.autoRecovery();
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
            writerPhase(WriterEvent.POST_SNAPSHOT, deadline(creator.timeouts().event()));
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

    // ------------------------------------------------------------------ abort

    /**
     * Undoes everything the phases reached made, latest first: completed copies deleted, kernel snapshots
     * deleted, file systems still frozen thawed, pending copies aborted, Abort to the writers taking part; the
     * session's writers are not called again. Never throws: what cannot be undone is added to {@code cause}.
     */
    void abort(ServiceException cause) {
        SetPhase reached = phase;
        phase = phase.to(SetPhase.ABORTED); // refused once created (or aborted)
        switch (reached) {
            case RECORDING, POST_SNAPSHOT, COMPLETING:
                deleteCompleted(cause);
                // fall through: what the commit made
            case THAWING, COMMITTING:
                deleteForeign(cause);
                // fall through
            case FLUSHING:
                thawQuietly(cause);
                // fall through
            case FREEZING, PREPARING:
                pending.forEach(ManagedVolume::abortShadowCopy);
                pending.clear();
                // fall through
            case GATHERING:
                if (!involved.isEmpty()) {
                    creator.writerCalls().abort(s, involved, context(WriterEvent.ABORT,
                            deadline(creator.timeouts().abort())));
                }
                // fall through
            case RECORDED:
                s.gathered(List.of()); // a failed session's writers are not called again
                s.participants(List.of());
                s.state(Session.State.COMPLETED);
                break;
            case CREATED, ABORTED:
                throw new AssertionError(reached); // rejected above
        }
    }

    private void deleteCompleted(ServiceException cause) {
        for (var e : completed.entrySet()) {
            try {
                e.getKey().deleteShadowCopy(e.getValue().id());
            } catch (IOException ex) {
                cause.addSuppressed(ex);
            }
        }
    }

    private void deleteForeign(ServiceException cause) {
        for (var e : foreignMade.entrySet()) {
            try {
                e.getKey().delete(e.getValue());
            } catch (IOException ex) {
                cause.addSuppressed(ex);
            }
        }
    }

    private void thawQuietly(ServiceException cause) {
        if (!frozen.isEmpty()) {
            try {
                creator.freezer().thaw(frozen);
            } catch (IOException e) {
                cause.addSuppressed(e);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private void writerPhase(WriterEvent event, Instant deadline) throws ServiceException {
        creator.writerCalls().phase(s, involved, event, context(event, deadline));
    }

    private EventContext context(WriterEvent event, Instant deadline) {
        return new EventContext(event == WriterEvent.IDENTIFY ? null : setId, names, s.context().wireName(),
                s.backupType(), copyText, deadline, s.components(), recoveryMounts);
    }

    private static Instant deadline(Duration d) {
        return Instant.now().plus(d);
    }

    private static ServiceException providerError(ManagedVolume v, IOException e) {
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

    /** The copies' records: one instant, consistency from the participants' states, attributes from the context. */
    private List<ShadowRecord> records(Instant protectUntil) {
        boolean app = withWriters && !involved.isEmpty()
                && s.participantStatus().stream().noneMatch(w -> w.state().failed());
        List<ShadowRecord.WriterOutcome> outcomes = s.participantStatus().stream()
                .map(w -> new ShadowRecord.WriterOutcome(w.name(), w.kind(), w.state(), w.failure(), w.message()))
                .toList();
        ShadowRecord.Consistency consistency = app ? ShadowRecord.Consistency.APPLICATION
                : ShadowRecord.Consistency.CRASH;
        int attrs = s.context().value() | Attributes.DIFFERENTIAL | Attributes.NOT_SURFACED
                | (recovered ? Attributes.AUTORECOVER : 0);
        UUID session = s.context().autoRelease() ? s.id() : null;
        int count = set.size() + foreign.size();
        List<ShadowRecord> out = new ArrayList<>();
        for (var e : completed.entrySet()) {
            int a = attrs | (e.getKey().config().layout() == VolumeLayout.SPLIT_MIRROR ? Attributes.PLEX : 0);
            out.add(new ShadowRecord(e.getValue().id(), setId, e.getKey().name(), Providers.of(e.getKey()).name(),
                    instant, s.context().wireName(), a, consistency, outcomes, protectUntil, count, creator.machine(),
                    ShadowRecord.State.CREATED, null, session));
        }
        for (var e : foreignMade.entrySet()) {
            out.add(new ShadowRecord(e.getValue(), setId, e.getKey().name(), e.getKey().provider(), instant,
                    s.context().wireName(), s.context().value() | Attributes.DIFFERENTIAL | Attributes.NOT_SURFACED,
                    consistency, outcomes, protectUntil, count, creator.machine(), ShadowRecord.State.CREATED, null,
                    session));
        }
        return out;
    }
}
