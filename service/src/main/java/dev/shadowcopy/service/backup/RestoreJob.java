package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Restores a volume of a backup point into a managed volume: a new one of the backup's size (named as asked),
 * or an existing one that is at least as large and not attached (its file system must not be mounted while
 * its blocks are replaced). Shadow copies of an existing target keep the data they had, as for any write.
 *
 * <p>Durability: the target is marked incomplete (durably, naming this restore and how to finish it) before its
 * first byte is written — a new volume is created with the mark — and the mark is removed only after the restore
 * flushed its last byte (and, with {@code verify}, read it all back). A restore killed with the daemon therefore
 * leaves a volume the service refuses to attach, export, copy or back up until the restore is run again to its
 * end, or the volume is deleted.
 */
public final class RestoreJob {

    public record Request(String repository, char[] passphrase, String backup, String volume, String target,
                          boolean verify, int threads, String host) {
        /** {@code host}: whose {@code latest} (null: this daemon's host). */
        public String host() {
            return host != null ? host : Leases.HostName.current();
        }
    }

    public record Result(String backup, String volume, String target, boolean created, Restorer.Result restore) {}

    private RestoreJob() {}

    static Result run(Volumes volumes, EventLog events, Request req, Progress progress) throws IOException {
        Repository repo = RepositoryAccess.open(req.repository(), req.passphrase());
        try (repo) {
            String id = BackupStore.of(repo).resolve(req.backup(), req.host());
            Manifest m = BackupStore.of(repo).manifest(id);
            Manifest.VolumeEntry v = m.volume(req.volume());
            if (v == null) {
                throw new ServiceException(VssError.OBJECT_NOT_FOUND, "backup " + id + " has no volume " + req.volume());
            }
            Optional<ManagedVolume> existing = volumes.find(req.target());
            if (volumes.liveState(req.target()).isPresent()) {
                throw new ServiceException(VssError.BAD_STATE, "volume " + req.target() + " is being restored live ("
                        + volumes.liveState(req.target()).get().from() + "); restore into it once that has finished");
            }
            boolean created = existing.isEmpty();
            String why = "a restore of volume " + v.name() + " of backup " + id + " from repository "
                    + req.repository() + " into it, started " + Instant.now() + ", did not finish. Run it again "
                    + "(shadowcopy restore " + id + " --volume " + v.name() + " --repo " + req.repository() + " --to "
                    + "volume:" + req.target() + (req.passphrase() != null ? " --passphrase-file FILE" : "") + "), "
                    + "or delete the volume (shadowcopy volume delete " + req.target() + ")";
            ManagedVolume target;
            if (created) {
                target = volumes.create(VolumeConfig.sparse(req.target(), (v.size() + 511) / 512 * 512), why);
            } else {
                target = existing.get();
                if (volumes.attachment(target.name()).isPresent()) {
                    List<String> uses = volumes.users(target.name());
                    throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + target.name() + " is attached as "
                            + volumes.attachment(target.name()).get().loopDevice() + (uses.isEmpty() ? "" : " and in use ("
                            + String.join("; ", uses) + ")") + "; a restore replaces its data: unmount it and detach it "
                            + "first (shadowcopy volume detach " + target.name() + ")");
                }
                if (target.size() < v.size()) {
                    throw new ServiceException(VssError.INVALID_ARGUMENT, "volume " + target.name() + " has "
                            + target.size() + " bytes; volume " + v.name() + " of backup " + id + " needs " + v.size()
                            + " (restore into a new volume instead)");
                }
                target.markIncomplete(why); // durable before the first byte is replaced
            }
            Restorer.Result r;
            try {
                r = Restorer.restore(repo, id, v.name(), target, new Restorer.Options(created, req.verify(),
                        req.threads(), Duration.ofMinutes(10)), progress); // flushed (and verified) on return
            } catch (IOException | RuntimeException e) {
                events.append("restore-failed", "error", "restore of volume " + v.name() + " of backup " + id
                        + " into volume " + target.name() + " failed: " + e.getMessage() + ". The volume stays marked "
                        + "incomplete: " + why, Map.of("backup", id, "volume", target.name()));
                throw e;
            }
            target.markComplete(); // only now: every byte is durable
            events.append("restore-complete", "info", "volume " + v.name() + " of backup " + id
                    + " restored into volume " + target.name(), Map.of("backup", id, "volume", target.name()));
            return new Result(id, v.name(), target.name(), created, r);
        } catch (RepositoryException e) {
            throw RepositoryAccess.translate(e);
        }
    }
}
