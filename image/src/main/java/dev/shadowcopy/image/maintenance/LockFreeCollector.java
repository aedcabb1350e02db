package dev.shadowcopy.image.maintenance;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Generation;
import dev.shadowcopy.image.repository.Lease;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryBackend.ObjectInfo;
import dev.shadowcopy.image.repository.RepositoryException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Garbage collection on object storage, where nothing locks the repository: backups of many hosts, restores and
 * this collection run at once. Two phases apart, with the pending {@link Generation} as the fence between them
 * (docs/backup.md, "Many hosts and no lock", has the race cases):
 *
 * <ol>
 *   <li><b>Mark.</b> The chunks no backup point names (committed, or being written by a backup whose lease lives)
 *       become the candidates, and backup directories whose writer is dead the removals; {@code gc/pending} is
 *       published ({@code marked}), then the live leases are listed: the sweep waits for each of them. An operation
 *       that took its lease later reads the fence and claims any candidate before relying on it.</li>
 *   <li><b>Sweep</b>, in this run if no other operation was running at the mark, else in a later one once they all
 *       ended or went stale: {@code gc/pending} turns {@code sweeping}, then the live leases' claims are read and
 *       the backup points listed again; a candidate is deleted only if no point names it now and no lease claims
 *       it. Dead backup directories go first, their chunks after.</li>
 * </ol>
 * At most one generation is pending and one collection runs: a collection that finds another's lease stops (two
 * that start together may both stop; never both go on). A collection killed while sweeping leaves {@code sweeping}
 * under a lease that goes stale; the next collection finishes the sweep.
 *
 * <p>Not done: deleting a candidate the moment it is found. A backup that started before the mark may be about to
 * commit a point naming it; only the wait for the leases seen at the mark makes that impossible.
 */
final class LockFreeCollector {
    private LockFreeCollector() {}

    static GarbageCollector.Result collect(Repository repo) throws IOException {
        Leases leases = repo.leases();
        Lease own = leases.own();
        leases.forgetFence(); // this collection is the only one that sweeps: it claims nothing
        Lease.Timing timing = Lease.Timing.current();
        Instant now = leases.now();
        excludeOtherCollections(repo, own, now, timing);
        long[] stats = new long[4]; // chunks removed, bytes freed, leftovers removed, chunks kept
        Generation g = Generation.read(repo);
        if (g != null) {
            boolean resume = Generation.SWEEPING.equals(g.state());
            List<String> waiting = resume ? List.of() : stillRunning(repo, g.waitingFor(), now, timing);
            if (!waiting.isEmpty()) {
                return result(stats, "generation " + g.generation() + " (marked " + g.markedAt() + ") is swept by a "
                        + "later garbage collection, once these have ended: " + describe(repo, waiting));
            }
            sweep(repo, g, own, timing, stats);
        }
        Generation next = mark(repo, g == null ? 1 : g.generation() + 1, now, stats);
        if (next == null) {
            return result(stats, null);
        }
        next.write(repo);
        pause(timing);
        List<String> running = new ArrayList<>();
        for (ObjectInfo o : repo.backend().listTree("leases/")) {
            String id = o.key().substring("leases/".length());
            if (!id.equals(own.id()) && fresh(o.lastModified(), now, timing)) {
                running.add(id);
            }
        }
        next = next.with(Generation.MARKED, null, running);
        next.write(repo);
        if (!running.isEmpty()) {
            return result(stats, next.candidateSet().size() + " unused chunks and " + next.removals().size()
                    + " dead backup directories are marked (generation " + next.generation() + "); a later garbage "
                    + "collection removes them once these have ended: " + describe(repo, running));
        }
        stats[3] = 0; // counted again by the sweep
        sweep(repo, next, own, timing, stats);
        return result(stats, null);
    }

    private static GarbageCollector.Result result(long[] s, String pending) {
        return new GarbageCollector.Result(s[0], s[1], s[2], s[3], pending);
    }

    /** One collection at a time: its lease is written before the others are looked for, so one sees the other. */
    private static void excludeOtherCollections(Repository repo, Lease own, Instant now, Lease.Timing timing)
            throws IOException {
        for (ObjectInfo o : repo.backend().listTree("leases/" + Lease.GC + "-")) {
            String id = o.key().substring("leases/".length());
            if (!id.equals(own.id()) && fresh(o.lastModified(), now, timing)) { // both may stop: never both go on
                throw new RepositoryException(RepositoryException.Code.LOCKED, "another garbage collection or prune "
                        + "is running on repository " + repo.location() + " (" + describe(repo, List.of(id))
                        + "); try again when it has finished");
            }
        }
    }

    /** Phase 1: the candidates and removals, or null when there is nothing to collect. */
    private static Generation mark(Repository repo, long number, Instant now, long[] stats) throws IOException {
        Set<ChunkId> live = GarbageCollector.liveChunks(repo);
        List<String> removals = new ArrayList<>();
        Lease.Timing timing = Lease.Timing.current();
        for (String dir : BackupStore.of(repo).uncommitted()) {
            if (alive(repo, dir, now, timing)) {
                addIndexes(repo, dir, live);
            } else {
                removals.add(dir);
            }
        }
        List<ChunkId> candidates = new ArrayList<>();
        repo.forEachChunkFile(c -> {
            if (!live.contains(c)) {
                candidates.add(c);
            }
        }, k -> { });
        stats[3] = live.size();
        if (candidates.isEmpty() && removals.isEmpty()) {
            return null;
        }
        return new Generation(number, Generation.MARKED, null, now.toString(), Generation.encodeIds(candidates),
                removals, List.of());
    }

    /** Phase 2: deletes what stayed unused, leaving what a live lease claims. */
    private static void sweep(Repository repo, Generation g, Lease own, Lease.Timing timing, long[] stats)
            throws IOException {
        g.with(Generation.SWEEPING, own.id(), g.waitingFor()).write(repo); // before the claims are read
        pause(timing);
        Instant now = repo.leases().now();
        Set<ChunkId> keep = new HashSet<>();
        for (ObjectInfo o : repo.backend().listTree("leases/")) {
            String id = o.key().substring("leases/".length());
            if (id.equals(own.id()) || !fresh(o.lastModified(), now, timing)) {
                continue;
            }
            try {
                keep.addAll(Leases.seenClaims(repo, id));
            } catch (NoSuchFileException e) {
                // ended meanwhile: it claims nothing any more
            }
        }
        Set<ChunkId> live;
        try {
            live = GarbageCollector.liveChunks(repo);
        } catch (IOException e) {
            g.with(Generation.MARKED, null, g.waitingFor()).write(repo); // nothing deleted: leave it marked
            throw e;
        }
        for (String dir : BackupStore.of(repo).uncommitted()) {
            if (alive(repo, dir, now, timing)) {
                addIndexes(repo, dir, live);
            }
        }
        for (String dir : g.removals()) {
            if (BackupStore.of(repo).uncommitted().contains(dir) && !alive(repo, dir, now, timing)) {
                repo.deleteTree(dir, BackupStore.PARTIAL); // before its chunks: no directory names a removed chunk
                stats[2]++;
            }
        }
        Map<ChunkId, Long> sizes = new HashMap<>();
        for (ObjectInfo o : repo.backend().listTree("chunks/")) {
            ChunkId c = ChunkId.parse(o.key().substring(o.key().lastIndexOf('/') + 1));
            if (c != null) {
                sizes.put(c, o.size());
            }
        }
        List<ChunkId> delete = new ArrayList<>();
        for (ChunkId c : g.candidateSet()) {
            if (!live.contains(c) && !keep.contains(c) && sizes.containsKey(c)) {
                delete.add(c);
                stats[1] += Math.max(0, sizes.get(c));
            }
        }
        stats[0] += repo.backend().deleteChunks(delete);
        stats[3] = sizes.size() - delete.size();
        stats[2] += GarbageCollector.removeOrphanVerdicts(repo);
        repo.backend().delete(Generation.KEY); // the generation has ended
    }

    /** The chunks of the indexes a backup in flight has written so far (they are live: it is about to commit). */
    private static void addIndexes(Repository repo, String dir, Set<ChunkId> live) throws IOException {
        for (String n : repo.backend().list(dir)) {
            if (!n.endsWith(".index")) {
                continue;
            }
            try {
                byte[] blob = repo.read(dir + "/" + n);
                String name = dir.substring(dir.indexOf('/') + 1) + "/" + n;
                byte[] plain = repo.codec().decode(BlobCodec.INDEX, blob, blob.length, name, null);
                VolumeIndex.decode(plain, plain.length, name).forEachObject(live::add);
            } catch (NoSuchFileException | RepositoryException e) {
                // not readable (yet): its chunks are protected by the wait for its lease
            }
        }
    }

    /** A backup directory is alive while the lease its marker names lives. */
    private static boolean alive(Repository repo, String dir, Instant now, Lease.Timing timing) throws IOException {
        String lease = BackupStore.of(repo).markerLease(dir);
        Instant at = lease == null || lease.isEmpty() ? repo.backend().lastModified(dir + "/" + BackupStore.PARTIAL)
                : repo.backend().lastModified("leases/" + lease);
        return fresh(at, now, timing);
    }

    private static List<String> stillRunning(Repository repo, List<String> ids, Instant now, Lease.Timing timing)
            throws IOException {
        List<String> out = new ArrayList<>();
        for (String id : ids) {
            if (fresh(repo.backend().lastModified("leases/" + id), now, timing)) {
                out.add(id);
            }
        }
        return out;
    }

    private static boolean fresh(Instant lastWrite, Instant now, Lease.Timing timing) {
        return lastWrite != null && lastWrite.isAfter(now.minus(timing.stale()));
    }

    private static String describe(Repository repo, List<String> ids) {
        List<String> out = new ArrayList<>();
        for (String id : ids) {
            out.add(Leases.describe(repo, id));
        }
        return String.join("; ", out);
    }

    private static void pause(Lease.Timing timing) throws IOException {
        if (timing.listingDelay().isZero()) {
            return;
        }
        try {
            Thread.sleep(timing.listingDelay().toMillis()); // a store with eventual listing shows recent writes by then
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("garbage collection interrupted");
        }
    }
}
