package dev.shadowcopy.image.maintenance;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.Verdicts;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryLock;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Removes chunks no committed backup point names, leftover temporary files, and partial or deleted backup
 * directories. In a directory: mark and sweep under the exclusive lock (no backup can be choosing to reuse a chunk
 * meanwhile). On object storage, with no lock: {@link LockFreeCollector}, mark and sweep apart, fenced.
 * If any backup point's manifest or index cannot be read, nothing is swept: its chunks are unknown, and
 * deleting them would make a repairable point unrestorable.
 */
public final class GarbageCollector {

    /**
     * @param pending object storage only: what the collection left for a later one and why (null when nothing was
     *                left, and always in a directory)
     */
    public record Result(long chunksRemoved, long bytesFreed, long leftoversRemoved, long chunksKept, String pending) {
        public Result(long chunksRemoved, long bytesFreed, long leftoversRemoved, long chunksKept) {
            this(chunksRemoved, bytesFreed, leftoversRemoved, chunksKept, null);
        }
    }

    private GarbageCollector() {}

    public static Result collect(Repository repo, Duration lockWait) throws IOException {
        try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.EXCLUSIVE, lockWait, "garbage collection")) {
            return collectLocked(repo);
        }
    }

    static Result collectLocked(Repository repo) throws IOException {
        if (repo.lockFree()) {
            return LockFreeCollector.collect(repo);
        }
        Set<ChunkId> live = liveChunks(repo);
        long[] removed = new long[4];
        List<String> leftovers = new ArrayList<>();
        List<ChunkId> dead = new ArrayList<>();
        repo.forEachChunkFile(c -> {
            if (live.contains(c)) {
                removed[3]++;
            } else {
                dead.add(c);
            }
        }, leftovers::add);
        for (ChunkId c : dead) {
            long size = repo.chunkFileSize(c);
            if (repo.deleteChunk(c)) {
                removed[0]++;
                removed[1] += Math.max(0, size);
            }
        }
        for (String p : leftovers) {
            if (p.endsWith(".tmp") && repo.backend().exists(p)) {
                repo.backend().delete(p);
                removed[2]++;
            }
        }
        for (String p : BackupStore.of(repo).uncommitted()) { // interrupted backups and deletes
            repo.deleteTree(p, BackupStore.PARTIAL);
            removed[2]++;
        }
        for (String n : repo.backend().list("tmp")) { // serve overlays, and older versions' partials
            repo.deleteTree("tmp/" + n, null);
            removed[2]++;
        }
        removed[2] += removeOrphanVerdicts(repo);
        return new Result(removed[0], removed[1], removed[2], removed[3]);
    }

    /** Verdicts whose point is gone (see {@link Verdicts}); returns how many were removed. */
    static long removeOrphanVerdicts(Repository repo) throws IOException {
        Verdicts verdicts = Verdicts.of(repo);
        List<String> orphans = verdicts.orphans(BackupStore.of(repo).ids());
        for (String id : orphans) {
            verdicts.delete(id);
        }
        return orphans.size();
    }

    /**
     * Every chunk a committed backup point names (the zero chunk, never stored, left out); refuses, with nothing
     * removed, when a point cannot be read. Both collections start from it.
     */
    static Set<ChunkId> liveChunks(Repository repo) throws IOException {
        Set<ChunkId> live = new HashSet<>();
        for (String id : BackupStore.of(repo).ids()) {
            try {
                Manifest m = BackupStore.of(repo).manifest(id);
                for (Manifest.VolumeEntry v : m.volumes()) {
                    BackupStore.of(repo).index(m, v).forEachObject(live::add); // patches' bases too
                }
            } catch (RepositoryException e) {
                throw new RepositoryException(e.code(), "garbage collection refused, nothing was removed: " + e
                        .getMessage() + ". The chunks of backup " + id + " are unknown while it cannot be read, "
                        + "and some of them may be its only copy. Put its files back from a copy of the repository, "
                        + "or give that backup point up with `shadowcopy backups delete " + id + " --repo "
                        + repo.location() + "`, then collect again", e);
            }
        }
        return live;
    }
}
