package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.service.Service;
import dev.shadowcopy.service.ServiceException;
import dev.shadowcopy.service.VssError;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * Restores a volume of a backup point into a managed volume: a new one of the backup's size (named as asked),
 * or an existing one that is at least as large and not attached (its file system must not be mounted while
 * its blocks are replaced). Shadow copies of an existing target keep the data they had, as for any write.
 */
public final class RestoreJob {

    public record Request(Path repository, char[] passphrase, String backup, String volume, String target,
                          boolean verify, int threads) {}

    public record Result(String backup, String volume, String target, boolean created, Restorer.Result restore) {}

    private RestoreJob() {}

    public static Result run(Service service, Request req, Progress progress) throws IOException {
        Repository repo = RepositoryAccess.open(req.repository(), req.passphrase());
        try {
            String id = repo.backups().resolve(req.backup());
            Manifest m = repo.backups().manifest(id);
            Manifest.VolumeEntry v = m.volume(req.volume());
            if (v == null) {
                throw new ServiceException(VssError.OBJECT_NOT_FOUND, "backup " + id + " has no volume " + req.volume());
            }
            Optional<ManagedVolume> existing = service.volumes().find(req.target());
            boolean created = existing.isEmpty();
            ManagedVolume target;
            if (created) {
                target = service.createVolume(VolumeConfig.sparse(req.target(), (v.size() + 511) / 512 * 512));
            } else {
                target = existing.get();
                if (service.attachment(target.name()).isPresent()) {
                    java.util.List<String> uses = service.users(target.name());
                    throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + target.name() + " is attached as "
                            + service.attachment(target.name()).get().loopDevice() + (uses.isEmpty() ? "" : " and in use ("
                            + String.join("; ", uses) + ")") + "; a restore replaces its data: unmount it and detach it "
                            + "first (shadowcopy volume detach " + target.name() + ")");
                }
            }
            Restorer.Result r = Restorer.restore(repo, id, v.name(), target, new Restorer.Options(created,
                    req.verify(), req.threads(), Duration.ofMinutes(10)), progress);
            service.events().append("restore-complete", "info", "volume " + v.name() + " of backup " + id
                    + " restored into volume " + target.name(), Map.of("backup", id, "volume", target.name()));
            return new Result(id, v.name(), target.name(), created, r);
        } catch (RepositoryException e) {
            throw RepositoryAccess.translate(e);
        }
    }
}
