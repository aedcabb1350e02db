package dev.shadowcopy.service;

import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.sequence.CreationProtection;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.device.ShadowStorageFullException;
import dev.shadowcopy.device.VolumeEvents;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The service's side of the engine's {@link VolumeEvents}: protection decides what the engine may release, releases
 * are recorded in the catalog (so that released means gone, also across a {@code kill -9}), and refused writes are
 * reported.
 *
 * <p>Durability of a release: the engine calls {@link #shadowCopyReleasing} before its deletion is durable; the copy's
 * record is then published as {@code releasing}. After the deletion, {@link #shadowCopyReleased} removes the record.
 * A crash in between leaves {@code releasing}, and the {@link dev.shadowcopy.service.catalog.Reconciler} finishes
 * the release at start (deleting the engine's copy if it is still there): never a {@code missing} copy.
 *
 * <p>Called on engine threads with engine locks held: it only takes the catalog's monitor and the event log's
 * lock, which are never held while calling a volume. Until the catalog is attached (while the engine opens), no copy
 * may be released for room and releases are left to the reconciler.
 */
final class EngineEvents implements VolumeEvents, CreationProtection {
    private static final System.Logger LOG = System.getLogger(EngineEvents.class.getName());
    /** A volume whose writes are refused is reported at most this often. */
    static final Duration REFUSAL_REPORT_INTERVAL = Duration.ofMinutes(1);

    private final EventLog events;
    private volatile Catalog catalog;
    /** Copies being created with a protection (not in the catalog yet) → until when. */
    private final Map<ShadowCopyId, Instant> protectedWhileCreating = new ConcurrentHashMap<>();
    private final Map<String, Instant> lastRefusalReport = new ConcurrentHashMap<>();

    EngineEvents(EventLog events) {
        this.events = events;
    }

    void attach(Catalog c) {
        this.catalog = c;
    }

    @Override
    public void begin(Collection<ShadowCopyId> copyIds, Instant until) {
        copyIds.forEach(id -> protectedWhileCreating.put(id, until));
    }

    @Override
    public void end(Collection<ShadowCopyId> copyIds) {
        copyIds.forEach(protectedWhileCreating::remove);
    }

    /** Until when the copy is protected, or null. */
    private Instant protectedUntil(ShadowCopyId id) {
        Instant pending = protectedWhileCreating.get(id);
        if (pending != null) {
            return pending;
        }
        Catalog c = catalog;
        ShadowRecord r = c == null ? null : c.copy(id).orElse(null);
        return r == null ? null : r.protectUntil();
    }

    @Override
    public boolean mayRelease(String volume, ShadowCopyInfo copy) {
        if (catalog == null) {
            return false; // still opening: protection unknown yet, so nothing goes for room
        }
        Instant until = protectedUntil(copy.id());
        return until == null || !Instant.now().isBefore(until);
    }

    @Override
    public void shadowCopyReleasing(String volume, ShadowCopyInfo copy, String reason) {
        Catalog c = catalog;
        if (c == null) {
            return;
        }
        try {
            c.updateCopy(copy.id(), r -> r.withState(ShadowRecord.State.RELEASING));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, "cannot record the release of shadow copy {0}: {1}", copy.id(),
                    e.toString());
        }
    }

    @Override
    public void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {
        String id = copy.id().toString();
        Catalog c = catalog;
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("shadow", id);
        details.put("volume", volume);
        String protection = "";
        if (c != null) { // while the engine opens (non-persistent copies released) the reconciler reports instead
            Instant until = protectedUntil(copy.id());
            boolean wasProtected = until != null && Instant.now().isBefore(until);
            details.put("protected", wasProtected);
            if (until != null) {
                details.put("protect_until", until.toString());
            }
            protection = wasProtected ? " (it was protected until " + until + ")" : " (it was not protected)";
        }
        events.append("shadow-released", "warning", "shadow copy " + id + " of volume " + volume + " was released: "
                + reason + protection, details);
        if (c != null) {
            try {
                c.removeCopies(java.util.List.of(copy.id())); // released means gone
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot remove the record of released shadow copy {0}: {1}", id,
                        e.toString());
            }
        }
    }

    @Override
    public void writeRefused(String volume, ShadowStorageFullException refusal) {
        Instant now = Instant.now();
        Instant last = lastRefusalReport.get(volume);
        if (last != null && now.isBefore(last.plus(REFUSAL_REPORT_INTERVAL))) {
            return;
        }
        lastRefusalReport.put(volume, now);
        events.append("write-refused", "error", refusal.getMessage() + " (reported at most once a minute)",
                Map.of("volume", volume, "shadows", refusal.keptCopies()));
    }

    @Override
    public void warning(String volume, String message) {
        events.append("volume-warning", "warning", "volume " + volume + ": " + message, Map.of("volume", volume));
    }
}
