package dev.shadowcopy.service.sequence;

import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The kernel providers' part of a commit (btrfs snapshots), on its own thread so that the commit's deadline
 * holds; fields guarded by this object's monitor. A snapshot that finishes after the commit was abandoned is
 * deleted here.
 */
final class ForeignSnapshots implements Runnable {
    private final EventLog events;
    final List<ForeignVolumes.Foreign> volumes;
    final Map<String, ShadowCopyId> ids;
    final UUID setId;
    final Map<ForeignVolumes.Foreign, ShadowCopyId> made = new LinkedHashMap<>();
    ForeignVolumes.Foreign current;
    IOException failure;
    boolean done;
    boolean abandoned;

    ForeignSnapshots(List<ForeignVolumes.Foreign> volumes, Map<String, ShadowCopyId> ids, UUID setId,
                     EventLog events) {
        this.events = events;
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
