package dev.shadowcopy.image.maintenance;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Re-reads every chunk the chosen backup points need, decodes it (checksum or authentication) and re-hashes
 * it against its name; each chunk is checked once however many points share it. Every damaged or missing
 * chunk is reported with every backup point, volume and offset it affects, and unreadable manifests and
 * indexes are reported as damaged backup points.
 */
public final class Verifier {

    /** Where a damaged chunk is used. */
    public record Use(String backup, String volume, long offset) {}

    public record Damage(String chunk, String problem, List<Use> usedBy) {}

    /** @param damagedBackups backup id → what is wrong with it (empty when everything checked out) */
    public record Report(int backups, long chunksChecked, long bytesChecked, List<Damage> damaged,
                         Map<String, List<String>> damagedBackups, Duration elapsed) {
        public boolean ok() {
            return damagedBackups.isEmpty();
        }
    }

    private Verifier() {}

    public static Report verify(Repository repo, List<String> ids, int threads, Duration lockWait, Progress progress)
            throws IOException {
        long t0 = System.nanoTime();
        try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.SHARED, lockWait, "verify")) {
            List<String> chosen = ids == null || ids.isEmpty() ? BackupStore.of(repo).ids() : resolveAll(repo, ids);
            Map<String, List<String>> bad = new TreeMap<>();
            Map<ChunkId, List<Use>> uses = new LinkedHashMap<>();
            long[] total = {0}; // bytes of the distinct chunks, for progress
            for (String id : chosen) {
                Manifest m;
                try {
                    m = BackupStore.of(repo).manifest(id);
                } catch (IOException e) {
                    bad.computeIfAbsent(id, k -> new ArrayList<>()).add(e.getMessage());
                    continue;
                }
                for (Manifest.VolumeEntry v : m.volumes()) {
                    VolumeIndex idx;
                    try {
                        idx = BackupStore.of(repo).index(m, v);
                    } catch (IOException e) {
                        bad.computeIfAbsent(id, k -> new ArrayList<>()).add(e.getMessage());
                        continue;
                    }
                    for (int i = 0; i < idx.chunks().length; i++) {
                        // a patched chunk needs its patch and its base
                        for (ChunkId c : idx.patched(i) ? List.of(idx.chunks()[i], idx.base(i)) : List.of(
                                idx.chunks()[i])) {
                            if (!c.isZero()) {
                                int len = idx.chunkLength(i);
                                uses.computeIfAbsent(c, k -> {
                                    total[0] += len;
                                    return new ArrayList<>();
                                }).add(new Use(id, v.name(), idx.chunkOffset(i)));
                            }
                        }
                    }
                }
            }
            Map<ChunkId, String> problems = new ConcurrentHashMap<>();
            AtomicLong done = new AtomicLong();
            int t = Math.max(1, threads);
            ThreadLocal<byte[]> buf = ThreadLocal.withInitial(() -> new byte[repo.chunkSize()]);
            try (ExecutorService pool = Executors.newFixedThreadPool(t, Thread.ofPlatform().daemon()
                    .name("verify-", 0).factory())) {
                List<Future<?>> fs = new ArrayList<>();
                for (ChunkId c : uses.keySet()) {
                    fs.add(pool.submit(() -> {
                        try {
                            done.addAndGet(repo.readChunk(c, buf.get()));
                        } catch (IOException e) {
                            problems.put(c, e.getMessage());
                        }
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                    progress.update("verify chunks", done.get(), total[0]);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("verify interrupted");
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IOException("verify failed: " + e.getCause(), e.getCause());
            }
            List<Damage> damaged = new ArrayList<>();
            for (Map.Entry<ChunkId, String> e : problems.entrySet()) {
                List<Use> u = uses.get(e.getKey());
                damaged.add(new Damage(e.getKey().hex(), e.getValue(), u));
                for (Use x : u) {
                    bad.computeIfAbsent(x.backup(), k -> new ArrayList<>()).add("volume " + x.volume() + " at offset "
                            + x.offset() + ": " + e.getValue());
                }
            }
            damaged.sort((a, b) -> a.chunk().compareTo(b.chunk()));
            return new Report(chosen.size(), uses.size(), done.get(), damaged, bad,
                    Duration.ofNanos(System.nanoTime() - t0));
        }
    }

    private static List<String> resolveAll(Repository repo, List<String> ids) throws IOException {
        List<String> out = new ArrayList<>();
        for (String id : ids) {
            out.add(BackupStore.of(repo).resolve(id));
        }
        return out;
    }
}
