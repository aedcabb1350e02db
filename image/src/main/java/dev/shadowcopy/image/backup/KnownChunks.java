package dev.shadowcopy.image.backup;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The chunks a backup may reuse without writing: those named by committed backup points (durable, since a
 * point is committed only after a sync), plus those this backup wrote itself. A chunk file that exists but
 * no committed point names may be a torn leftover of a crash, so it is not trusted.
 */
final class KnownChunks {
    private final Set<ChunkId> committed = ConcurrentHashMap.newKeySet();
    private final Set<ChunkId> written = ConcurrentHashMap.newKeySet();
    final List<String> warnings = new ArrayList<>();
    final List<Manifest> manifests = new ArrayList<>();

    static KnownChunks load(Repository repo) throws IOException {
        KnownChunks k = new KnownChunks();
        for (String id : BackupStore.of(repo).ids()) {
            Manifest m;
            try {
                m = BackupStore.of(repo).manifest(id);
            } catch (IOException e) {
                k.warnings.add("backup " + id + " is unreadable and is not used as a base: " + e.getMessage());
                continue;
            }
            boolean ok = true;
            for (Manifest.VolumeEntry v : m.volumes()) {
                try {
                    BackupStore.of(repo).index(m, v).forEachObject(k.committed::add);
                } catch (IOException e) {
                    ok = false;
                    k.warnings.add("backup " + id + " volume " + v.name() + " is unreadable and is not used as a "
                            + "base: " + e.getMessage());
                }
            }
            if (ok) {
                k.manifests.add(m);
            }
        }
        return k;
    }

    /** True for the one caller that should write this chunk. */
    boolean claim(ChunkId id) {
        return !committed.contains(id) && written.add(id);
    }
}
