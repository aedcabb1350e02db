package dev.shadowcopy.image.maintenance;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Applies a {@link Retention} to each group of backup points (points of the same set of volumes are one
 * group, as Proxmox Backup Server groups by guest), deletes the others, then collects garbage. Runs under the
 * exclusive repository lock. A point whose manifest is unreadable is never deleted by a prune (verify
 * reports it; the admin decides).
 */
public final class Pruner {

    public record Decision(String id, String group, boolean keep, List<String> reasons) {}

    public record Result(List<Decision> decisions, GarbageCollector.Result gc, boolean dryRun) {}

    private Pruner() {}

    public static Result prune(Repository repo, Retention rules, boolean dryRun, boolean collect, Duration lockWait)
            throws IOException {
        if (!rules.any()) {
            throw new IllegalArgumentException("a prune needs at least one --keep-* rule");
        }
        try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.EXCLUSIVE, lockWait, "the prune")) {
            Map<String, List<Retention.Point>> groups = new TreeMap<>();
            Map<String, String> groupOf = new LinkedHashMap<>();
            List<Decision> decisions = new ArrayList<>();
            for (String id : BackupStore.of(repo).ids()) {
                Manifest m;
                try {
                    m = BackupStore.of(repo).manifest(id);
                } catch (IOException e) {
                    decisions.add(new Decision(id, "?", true, List.of("unreadable: " + e.getMessage())));
                    continue;
                }
                String g = String.join(",", m.volumes().stream().map(Manifest.VolumeEntry::name).sorted().toList());
                groups.computeIfAbsent(g, k -> new ArrayList<>()).add(new Retention.Point(id, Instant.parse(m.created())));
                groupOf.put(id, g);
            }
            List<String> delete = new ArrayList<>();
            for (Map.Entry<String, List<Retention.Point>> g : groups.entrySet()) {
                Map<String, List<String>> keep = rules.keep(g.getValue());
                for (Retention.Point p : g.getValue()) {
                    List<String> why = keep.get(p.id());
                    decisions.add(new Decision(p.id(), g.getKey(), why != null, why == null ? List.of() : why));
                    if (why == null) {
                        delete.add(p.id());
                    }
                }
            }
            decisions.sort((a, b) -> a.id().compareTo(b.id()));
            GarbageCollector.Result gc = null;
            if (!dryRun) {
                for (String id : delete) {
                    BackupStore.of(repo).delete(id);
                }
                if (collect) {
                    gc = GarbageCollector.collectLocked(repo);
                }
            }
            return new Result(decisions, gc, dryRun);
        }
    }
}
