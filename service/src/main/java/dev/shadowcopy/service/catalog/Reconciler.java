package dev.shadowcopy.service.catalog;

import dev.shadowcopy.service.provider.Providers;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * At start, brings the catalog and the engine into agreement — by rules, never by guessing:
 * <ul>
 *   <li>a set still {@code creating}: the service stopped mid-creation and the requester never heard of
 *       success, so its copies are deleted from the engine and the set is dropped;</li>
 *   <li>a persistent copy in the catalog that the engine no longer has: marked {@code missing} and reported
 *       (its properties stay for the admin to see; {@code delete shadows} removes the record);</li>
 *   <li>a non-persistent copy in the catalog: the engine releases those at every start, so the record goes;</li>
 *   <li>a copy recorded as {@code releasing}: the engine had decided to release it (shadow storage full) when the
 *       service stopped; released means gone, so the release is finished (the engine's copy deleted if it is
 *       still there) and the record goes — it never comes back as {@code missing};</li>
 *   <li>a copy in the engine that the catalog does not know: kept, listed as {@code untracked} with what the
 *       engine knows, and reported;</li>
 *   <li>sessions do not survive a restart; exposures do (the service takes them over, or mounts them again
 *       after a reboot, and clears the exposed path only of one it cannot bring back).</li>
 * </ul>
 * Every finding is an event in the log with level warning (or info for the expected release of
 * non-persistent copies).
 */
public final class Reconciler {
    private Reconciler() {}

    public static List<String> reconcile(Catalog catalog, VolumeManager volumes, EventLog events) throws IOException {
        return reconcile(catalog, volumes, dev.shadowcopy.service.provider.ForeignVolumes.NONE, events);
    }

    /** As above, with kernel-snapshotted volumes (btrfs) whose snapshots are their own record of existence. */
    public static List<String> reconcile(Catalog catalog, VolumeManager volumes,
                                         dev.shadowcopy.service.provider.ForeignVolumes foreign, EventLog events)
            throws IOException {
        List<String> findings = new ArrayList<>();
        Map<ShadowCopyId, ShadowCopyInfo> engine = new HashMap<>();
        Map<ShadowCopyId, ManagedVolume> owner = new HashMap<>();
        for (ManagedVolume v : volumes.list()) {
            for (ShadowCopyInfo c : v.shadowCopies()) {
                engine.put(c.id(), c);
                owner.put(c.id(), v);
            }
        }
        for (SetRecord s : catalog.sets()) {
            if (s.state() != SetRecord.State.CREATING) {
                continue;
            }
            List<String> deleted = new ArrayList<>();
            for (var e : s.copies().entrySet()) {
                var f = foreign.find(e.getKey());
                if (f != null && f.exists(e.getValue())) {
                    f.delete(e.getValue());
                    deleted.add(e.getValue().toString());
                    continue;
                }
                ManagedVolume v = owner.get(e.getValue());
                if (v != null) {
                    v.deleteShadowCopy(e.getValue());
                    engine.remove(e.getValue());
                    deleted.add(e.getValue().toString());
                }
            }
            catalog.removeCopies(List.copyOf(s.copies().values()));
            catalog.removeSet(s.id());
            String m = "shadow copy set " + s.id() + " was being created when the service stopped; the "
                    + deleted.size() + " cop" + (deleted.size() == 1 ? "y" : "ies") + " made of it were deleted";
            findings.add(m);
            events.append("reconcile-incomplete-set", "warning", m, Map.of("set", s.id().toString(), "deleted",
                    deleted));
        }
        List<ShadowCopyId> finished = new ArrayList<>();
        for (ShadowRecord r : catalog.copies()) {
            if (r.state() != ShadowRecord.State.RELEASING) {
                continue;
            }
            ManagedVolume v = owner.get(r.id());
            if (v != null) {
                v.deleteShadowCopy(r.id()); // data first, then the record
                engine.remove(r.id());
            }
            finished.add(r.id());
            String m = "shadow copy " + r.id() + " of volume " + r.volume() + " was being released to make room in "
                    + "shadow storage when the service stopped; the release was finished";
            findings.add(m);
            events.append("reconcile-released-copy", "warning", m, Map.of("shadow", r.id().toString(), "volume",
                    r.volume(), "protected", false));
        }
        if (!finished.isEmpty()) {
            catalog.removeCopies(finished);
        }
        List<ShadowCopyId> released = new ArrayList<>();
        for (ShadowRecord r : catalog.copies()) {
            boolean persistent = (r.attributes() & Attributes.PERSISTENT) != 0;
            var f = foreign.find(r.volume());
            if (f != null && !persistent && f.exists(r.id())) {
                f.delete(r.id()); // non-persistent: released at restart, like the engine's
            }
            boolean present = engine.containsKey(r.id()) || f != null && f.exists(r.id());
            if (present) {
                continue;
            }
            if (!persistent) {
                released.add(r.id());
            } else if (r.state() != ShadowRecord.State.MISSING) {
                catalog.updateCopy(r.id(), c -> c.withState(ShadowRecord.State.MISSING));
                String m = "persistent shadow copy " + r.id() + " of volume " + r.volume() + " is in the catalog but "
                        + "its data is gone from the engine; it is listed as missing (delete it to drop the record)";
                findings.add(m);
                events.append("reconcile-missing-copy", "warning", m, Map.of("shadow", r.id().toString(), "volume",
                        r.volume()));
            }
        }
        if (!released.isEmpty()) {
            catalog.removeCopies(released);
            events.append("reconcile-released", "info", released.size() + " non-persistent shadow cop"
                    + (released.size() == 1 ? "y was" : "ies were") + " released by the restart", Map.of("shadows",
                    released.stream().map(ShadowCopyId::toString).toList()));
        }
        for (var e : engine.entrySet()) {
            if (catalog.copy(e.getKey()).isEmpty()) {
                ShadowCopyInfo c = e.getValue();
                catalog.putCopy(new ShadowRecord(c.id(), null, c.volume(), Providers.SOFTWARE, c.created(), "unknown",
                        c.persistent() ? Attributes.PERSISTENT : 0, ShadowRecord.Consistency.UNKNOWN, List.of(), null,
                        1, null, ShadowRecord.State.UNTRACKED, null, null));
                String m = "shadow copy " + c.id() + " of volume " + c.volume() + " (taken " + c.created()
                        + ") is in the engine but not in the catalog; it is kept and listed as untracked";
                findings.add(m);
                events.append("reconcile-untracked-copy", "warning", m, Map.of("shadow", e.getKey().toString(),
                        "volume", c.volume()));
            }
        }
        return findings;
    }
}
