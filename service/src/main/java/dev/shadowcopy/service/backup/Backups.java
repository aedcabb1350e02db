package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.ops.Sessions;
import dev.shadowcopy.service.ops.Volumes;
import java.io.IOException;

/**
 * Image backups and restores run by the service (docs/backup.md): a backup is a session whose set is read into a
 * repository; a restore writes a backup point into a managed volume, marked incomplete until its last byte is durable.
 */
public final class Backups {
    private final Volumes volumes;
    private final Sessions sessions;
    private final EventLog events;

    public Backups(Volumes volumes, Sessions sessions, EventLog events) {
        this.volumes = volumes;
        this.sessions = sessions;
        this.events = events;
    }

    /** Backs up the request's volumes into its repository; progress is reported (and may cancel by throwing). */
    public BackupJob.Result backup(BackupJob.Request req, Progress progress) throws IOException {
        return BackupJob.run(volumes, sessions, events, req, progress);
    }

    /** Restores a volume of a backup point into a managed volume (new, or existing and not attached). */
    public RestoreJob.Result restore(RestoreJob.Request req, Progress progress) throws IOException {
        return RestoreJob.run(volumes, events, req, progress);
    }
}
