package dev.shadowcopy.image.backup;

import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.VolumeIndex;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Writes one backup point from shadow copies of one or more volumes (a shadow copy set), under the
 * repository's shared lock. Per volume it picks the newest committed backup of the same volume (same UUID and
 * size) as the base and asks change tracking what changed since that backup's copy; if tracking cannot answer,
 * it reads everything ({@code full-rescan}) and says why. Either way only chunks the repository lacks are
 * stored, so every backup point is complete on its own.
 */
public final class BackupWriter {

    /** What to record about the shadow copy set and its writers, and how to run. */
    public record Request(List<VolumeSource> volumes, Instant created, String setId, String context,
                          String consistency, List<Manifest.WriterEntry> writers, Map<String, Object> components,
                          String host, String label, boolean forceFull, int threads, Duration lockWait) {}

    public record Result(Manifest manifest, List<String> warnings, Duration elapsed) {}

    private BackupWriter() {}

    public static Result write(Repository repo, Request req, Progress progress) throws IOException {
        long t0 = System.nanoTime();
        if (req.volumes().isEmpty()) {
            throw new IllegalArgumentException("nothing to back up");
        }
        int threads = Math.max(1, req.threads());
        try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.SHARED, req.lockWait(), "the backup");
             // Four workers per CPU: a worker waiting for a cold read leaves its CPU to another's hashing (bench-backup).
             ExecutorService pool = Executors.newFixedThreadPool(4 * threads, Thread.ofPlatform().daemon()
                     .name("backup-", 0).factory())) {
            KnownChunks known = KnownChunks.load(repo);
            List<String> warnings = new ArrayList<>(known.warnings);
            BackupStore.Pending pending = BackupStore.of(repo).begin(req.created());
            boolean committed = false;
            try {
                List<Manifest.VolumeEntry> entries = new ArrayList<>();
                int ordinal = 0;
                for (VolumeSource v : req.volumes()) {
                    entries.add(volume(repo, known, pool, 4 * threads, pending, ordinal++, v, req.forceFull(), progress,
                            warnings));
                }
                Manifest m = new Manifest(Manifest.FORMAT, pending.id(), req.created().toString(),
                        Instant.now().toString(), req.host(), req.label(), req.setId(), req.context(),
                        req.consistency(), entries, req.writers(), req.components());
                pending.commit(m);
                committed = true;
                return new Result(m, warnings, Duration.ofNanos(System.nanoTime() - t0));
            } finally {
                if (!committed) {
                    pending.abandon();
                }
            }
        }
    }

    private static Manifest.VolumeEntry volume(Repository repo, KnownChunks known, ExecutorService pool, int threads,
                                               BackupStore.Pending pending, int ordinal, VolumeSource v,
                                               boolean forceFull, Progress progress, List<String> warnings)
            throws IOException {
        int cs = repo.chunkSize();
        long size = v.device().size();
        int n = VolumeIndex.count(size, cs);
        String mode = "full";
        String reason = null;
        String baseId = null;
        VolumeIndex baseIndex = null;
        BitSet reuse = null;
        ChangedExtents extents = null;
        Manifest base = null;
        Manifest.VolumeEntry baseEntry = null;
        for (int i = known.manifests.size() - 1; i >= 0 && base == null; i--) {
            Manifest m = known.manifests.get(i);
            for (Manifest.VolumeEntry e : m.volumes()) {
                if (v.volumeId() != null && v.volumeId().equals(e.volumeId())) {
                    base = m;
                    baseEntry = e;
                    break;
                }
            }
        }
        if (base != null && !forceFull) {
            if (baseEntry.size() != size || baseEntry.chunkSize() != cs) {
                mode = "full-rescan";
                reason = "the volume's size changed since backup " + base.id();
            } else if (v.changes() == null) {
                mode = "full-rescan";
                reason = "the source has no change tracking";
            } else if (baseEntry.sequence() >= v.sequence()) {
                mode = "full-rescan";
                reason = "backup " + base.id() + " was taken from a later shadow copy (sequence "
                        + baseEntry.sequence() + ") than this one (" + v.sequence() + ")";
            } else {
                try {
                    baseIndex = BackupStore.of(repo).index(base, baseEntry);
                    BitSet changed = new BitSet(n);
                    ChangedExtents where = new ChangedExtents(size, cs);
                    v.changes().mapChangesSince(baseEntry.sequence(), 0, size, (off, len, flags) -> {
                        if ((flags & 1) != 0 && len > 0) {
                            changed.set((int) (off / cs), (int) ((off + len - 1) / cs) + 1);
                            where.add(off, len);
                        }
                        return true;
                    });
                    // Blocks auto-recovery changed in the base's copy differ from the volume: read them again.
                    if (baseEntry.recoveryExtents() != null) {
                        for (long[] e : baseEntry.recoveryExtents()) {
                            if (e.length == 2 && e[1] > 0 && e[0] >= 0 && e[0] < size) {
                                changed.set((int) (e[0] / cs), (int) ((Math.min(size, e[0] + e[1]) - 1) / cs) + 1);
                                where.add(e[0], e[1]);
                            }
                        }
                    }
                    reuse = new BitSet(n);
                    reuse.set(0, n);
                    reuse.andNot(changed);
                    extents = where;
                    mode = "incremental";
                    baseId = base.id();
                } catch (IOException e) {
                    mode = "full-rescan";
                    reason = "change tracking cannot be trusted: " + e.getMessage();
                    reuse = null;
                    extents = null;
                    baseIndex = null;
                }
            }
            if (reason != null) {
                warnings.add("volume " + v.name() + ": reading everything, storing only what differs (" + reason + ")");
            }
        } else if (forceFull) {
            reason = base != null ? "full backup requested" : null;
        }
        VolumeBackup.Outcome out = new VolumeBackup(repo, known, pool, threads)
                .run(v.device(), baseIndex, reuse, extents, "volume " + v.name(), progress);
        String sha = pending.writeIndex(ordinal, out.index());
        long chunks = out.index().chunks().length;
        long zeros = 0;
        for (var c : out.index().chunks()) {
            if (c.isZero()) {
                zeros++;
            }
        }
        VolumeBackup.Stats s = out.stats();
        return new Manifest.VolumeEntry(ordinal, v.name(), v.volumeId(), size, cs, v.shadowCopyId(), v.sequence(),
                mode, reason, baseId, s.allocatedBytes(), s.bytesRead(), s.newChunks(), s.storedBytes(), chunks,
                zeros, sha, v.recoveryExtents().isEmpty() ? null : v.recoveryExtents());
    }
}
