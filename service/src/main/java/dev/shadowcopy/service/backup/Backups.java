package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.ops.Sessions;
import dev.shadowcopy.service.ops.Volumes;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Image backups and restores run by the service (docs/backup.md): a backup is a session whose set is read into a
 * repository; a restore writes a backup point into a managed volume, marked incomplete until its last byte is durable.
 */
public final class Backups {
    private final Volumes volumes;
    private final Sessions sessions;
    private final EventLog events;
    private final Migrations migrations;
    private final DeepVerify deepVerify;

    public Backups(Volumes volumes, Sessions sessions, EventLog events, Migrations migrations, DeepVerify deepVerify) {
        this.volumes = volumes;
        this.sessions = sessions;
        this.events = events;
        this.migrations = migrations;
        this.deepVerify = deepVerify;
    }

    /**
     * Proves backup points restorable ({@code backups verify --deep}): chunks re-hashed, file systems checked, databases
     * started and checked; each verdict stored with its point, a failure an event.
     */
    public DeepVerify.Result verify(String repository, char[] passphrase, List<String> ids, int threads,
                                    Progress progress) throws IOException {
        try (Repository repo = RepositoryAccess.open(repository, passphrase)) {
            return deepVerify.verify(repo, repository, ids, threads, progress);
        }
    }

    /** Backs up the request's volumes into its repository; progress is reported (and may cancel by throwing). */
    public BackupJob.Result backup(BackupJob.Request req, Progress progress) throws IOException {
        return BackupJob.run(volumes, sessions, events, deepVerify, req, progress);
    }

    /**
     * Starts a live restore into a managed volume (new, or existing and not attached): usable at once, filled in
     * the background ({@link Migrations}).
     */
    public Migrations.Status restoreLive(Migrations.Request req) throws IOException {
        return migrations.start(volumes, req);
    }

    /** The live restores: how far each got. */
    public Migrations migrations() {
        return migrations;
    }

    /** Restores a volume of a backup point into a managed volume (new, or existing and not attached). */
    public RestoreJob.Result restore(RestoreJob.Request req, Progress progress) throws IOException {
        return RestoreJob.run(volumes, events, req, progress);
    }
}
