package dev.shadowcopy.service.backup;

import dev.shadowcopy.attach.loop.DeviceUsers;
import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.Verdicts;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.ops.Sessions;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.service.sequence.WriterStatus;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowCopyDevice;
import dev.shadowcopy.writer.WriterMetadata;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The requester side of an image backup, run inside the service: gather writer metadata, prepare for backup,
 * one shadow copy set of every volume (writers frozen and thawed around it), read each volume from its shadow
 * copy into the repository, and only once the backup point is committed tell the writers BackupComplete (so a
 * database truncates its logs only after the backup really exists). The session is released at the end, which
 * deletes the shadow copies (backup context: auto-release). Any failure aborts the set or the backup and
 * leaves no backup point.
 */
public final class BackupJob {

    /**
     * @param volumes    volume names, all in one shadow copy set
     * @param full       read everything even where change tracking could say what changed
     * @param passphrase for an encrypted repository (or to create one); null otherwise
     */
    public record Request(List<String> volumes, String repository, boolean full, char[] passphrase, String label,
                          int threads, Set<String> excludeWriters, boolean verify) {
        public Request(List<String> volumes, String repository, boolean full, char[] passphrase, String label,
                       int threads, Set<String> excludeWriters) {
            this(volumes, repository, full, passphrase, label, threads, excludeWriters, false);
        }
    }

    /** @param verification the deep verification of the new point ({@code verify}), or null */
    public record Result(Manifest manifest, List<String> warnings, Duration elapsed,
                         List<String> backupCompleteFailures, Verdicts.Verdict verification) {}

    private BackupJob() {}

    static Result run(Volumes volumes, Sessions sessions, EventLog events, DeepVerify verifier, Request req,
                      Progress progress) throws IOException {
        if (req.volumes().isEmpty()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "name at least one volume to back up (--for VOL)");
        }
        for (String v : req.volumes()) {
            if (volumes.btrfs(v) != null) {
                throw new ServiceException(VssError.VOLUME_NOT_SUPPORTED, "volume " + v + " is a btrfs subvolume (a "
                        + "file tree); image backups read block volumes. Back up its snapshots with file tools, or "
                        + "put the data on a managed volume");
            }
            // fails clearly for an unknown or incomplete volume before anything is frozen
            Volumes.requireComplete(volumes.get(v), "backed up");
        }
        try (Repository repo = RepositoryAccess.openOrCreate(req.repository(), req.passphrase())) {
            return run(volumes, sessions, events, verifier, req, progress, repo);
        }
    }

    private static Result run(Volumes volumes, Sessions sessions, EventLog events, DeepVerify verifier, Request req,
                              Progress progress, Repository repo) throws IOException {
        // VSS backup type, as writers and the components document see it: incremental only when every volume has a
        // backup to be incremental to (its first backup is a full one, whatever was asked)
        boolean full = req.full();
        for (String v : req.volumes()) {
            full |= !BackupStore.of(repo).holdsVolume(volumes.get(v).id().toString());
        }
        Map<String, Object> described = describe(volumes, req.volumes());
        Result done = backUp(volumes, sessions, events, repo, full, described, req, progress);
        if (!req.verify()) {
            return done;
        }
        // proven restorable: after the writers were told the backup exists and the session released its copies
        Verdicts.Verdict verdict = verifier.verify(repo, req.repository(), List.of(done.manifest().id()), req.threads(),
                progress).verdicts().getFirst();
        return new Result(done.manifest(), done.warnings(), done.elapsed(), done.backupCompleteFailures(), verdict);
    }

    private static Result backUp(Volumes volumes, Sessions sessions, EventLog events, Repository repo, boolean full,
                                 Map<String, Object> described, Request req, Progress progress) throws IOException {
        Session s = sessions.open(Context.BACKUP, full ? "full" : "incremental",
                req.excludeWriters() == null ? Set.of() : req.excludeWriters(), Set.of(), "backup to "
                        + req.repository(), Duration.ofDays(1));
        try {
            progress.update("shadow copy set of " + String.join(", ", req.volumes()), 0, 0);
            SnapshotSetCreator.CreatedSet set = sessions.createSet(s, req.volumes(), null);
            List<VolumeSource> sources = new ArrayList<>();
            for (ShadowRecord r : set.copies()) {
                ManagedVolume vol = volumes.get(r.volume());
                ShadowCopyDevice dev = vol.shadowCopy(r.id());
                List<long[]> recovered = new ArrayList<>();
                dev.mapRecoveryChanges((off, len, flags) -> recovered.add(new long[] {off, len}));
                sources.add(new VolumeSource(r.volume(), vol.id().toString(), r.id().toString(), dev.info().sequence(), dev,
                        dev::mapChangesSince, recovered));
            }
            ShadowRecord first = set.copies().getFirst();
            String consistency = writersOf(s).isEmpty() ? "crash-consistent"
                    : first.consistency() == ShadowRecord.Consistency.APPLICATION ? "application-consistent"
                    : "inconsistent";
            Map<String, Object> components = new LinkedHashMap<>();
            components.put("backup_type", s.backupType());
            components.put("context", s.context().wireName());
            components.put("writers", s.components().snapshot());
            components.put("volumes", described); // where each was mounted and what it held: what verify --deep checks
            BackupWriter.Result r;
            try {
                r = BackupWriter.write(repo, new BackupWriter.Request(sources, first.created(),
                        set.set().id().toString(), s.context().wireName(), consistency, writersOf(s), components,
                        Leases.HostName.current(), req.label(), req.full(), req.threads(), Duration.ofMinutes(10)),
                        progress);
            } catch (IOException e) {
                throw repositoryFull(e, req.repository());
            }
            List<String> bcFailures = sessions.backupComplete(s).stream().map(o -> o.writer().name() + ": "
                    + o.message()).toList();
            Manifest finalStates = r.manifest();
            if (!writersOf(s).isEmpty()) {
                try (var lock = repo.lock(RepositoryLock.Mode.SHARED, Duration.ofMinutes(10),
                        "recording the writers' final states")) {
                    finalStates = BackupStore.of(repo).recordWriters(r.manifest().id(), writersOf(s));
                }
            }
            events.append("backup-complete", "info", "backup " + r.manifest().id() + " of "
                    + String.join(", ", req.volumes()) + " written to " + req.repository() + " (" + consistency + ")",
                    Map.of("backup", r.manifest().id(), "repository", req.repository()));
            return new Result(finalStates, r.warnings(), r.elapsed(), bcFailures, null);
        } catch (IOException | RuntimeException e) {
            events.append("backup-failed", "error", "backup of " + String.join(", ", req.volumes()) + " to "
                    + req.repository() + " failed: " + e.getMessage(), Map.of("repository", req.repository()));
            throw e;
        } finally {
            sessions.release(s, "backup finished");
        }
    }

    /**
     * Each volume's mount point and file system type at backup time, where known (it is attached and holds one), for
     * the deep verification: {@code {"VOL": {"mount": "/srv/data", "type": "ext4"}}}.
     */
    private static Map<String, Object> describe(Volumes volumes, List<String> names) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String name : names) {
            Map<String, String> d = new LinkedHashMap<>();
            var a = volumes.attachment(name);
            if (a.isPresent()) {
                try {
                    List<String> mounts = DeviceUsers.mountPoints(a.get().loopDevice());
                    if (!mounts.isEmpty()) {
                        d.put("mount", mounts.getFirst());
                    }
                    String type = FileSystemCheck.typeOf(a.get().loopDevice());
                    if (type != null) {
                        d.put("type", type);
                    }
                } catch (IOException e) {
                    // not known: the verification then goes without it
                }
            }
            out.put(name, d);
        }
        return out;
    }

    /**
     * A write that failed for lack of space, named: which repository is full and what to do. The JDK's message
     * ("No space left on device") names neither. Other failures are returned as they are.
     */
    static IOException repositoryFull(IOException e, String repository) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            if (t instanceof dev.shadowcopy.platform.NoSpaceException || m.contains("No space left on device")
                    || m.contains("Disk quota exceeded")) {
                return new ServiceException(VssError.INSUFFICIENT_STORAGE, "the repository " + repository + " is full ("
                        + m + "); no backup point was made. Free space there (shadowcopy backups prune --repo "
                        + repository + " ..., then backups gc), or back up to a repository with room", null, e);
            }
        }
        return e;
    }

    private static List<Manifest.WriterEntry> writersOf(Session s) {
        Map<String, WriterMetadata> md = s.metadata();
        List<Manifest.WriterEntry> out = new ArrayList<>();
        for (WriterStatus w : s.participantStatus()) {
            WriterMetadata m = md.get(w.name());
            out.add(new Manifest.WriterEntry(w.name(), w.kind(), w.state().name().toLowerCase(),
                    w.failure().name().toLowerCase(), w.message(), m == null ? null : m.toXml()));
        }
        return out;
    }
}
