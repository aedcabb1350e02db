package dev.shadowcopy.service.backup;

import com.fasterxml.jackson.core.JacksonException;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code STATE/migrations/NAME/migration.json}: what a live restore into volume NAME reads and how to go on with it
 * after a restart. Published once (temporary name, fsync, rename, directory fsync) after the target was marked
 * incomplete and before it is served; removed after the mark is removed. JSON, snake_case:
 *
 * @param format      1
 * @param volume      the target volume's name; {@code volumeId} its UUID (a re-created volume of that name is not it)
 * @param repository  the repository's directory; {@code repositoryId} its id (a different repository there is not it)
 * @param backup      the backup point; {@code sourceVolume} its volume being restored
 * @param passphrase  an encrypted repository's passphrase, kept (mode 0600, in the daemon's private state directory)
 *                    because a restart must go on reading; gone with this file when the restore ends. Null otherwise
 * @param overlay     the durable overlay of a {@code backups serve} being migrated (its writes are part of the
 *                    source), or null
 * @param socket      the Unix socket of that serve, which the daemon serves from now on (the guest reconnects to it),
 *                    or null; {@code export} the export name served there
 * @param rateMbps    the copy's pace limit in MB/s (0: none)
 */
record MigrationRecord(int format, String volume, String volumeId, String repository, String repositoryId,
                       String backup, String sourceVolume, long size, int chunkSize, String started, String passphrase,
                       String overlay, String socket, String export, int rateMbps) {
    static final int FORMAT = 1;
    static final String FILE = "migration.json";

    static MigrationRecord read(Path dir) throws IOException {
        Path f = dir.resolve(FILE);
        try {
            MigrationRecord r = Json.MAPPER.readValue(LocalStorage.INSTANCE.readAll(f), MigrationRecord.class);
            if (r.format() != FORMAT || r.volume() == null || r.repository() == null || r.backup() == null
                    || r.sourceVolume() == null || r.chunkSize() <= 0) {
                throw new IOException(f + " is not a live restore record this version reads (format " + r.format()
                        + ")");
            }
            return r;
        } catch (JacksonException e) {
            throw new IOException(f + " is damaged: " + e.getOriginalMessage(), e);
        }
    }

    void publish(Path dir) throws IOException {
        LocalStorage.INSTANCE.createDirectories(dir);
        LocalStorage.INSTANCE.publish(dir.resolve(FILE), Json.MAPPER.writeValueAsBytes(this));
    }

    String from() {
        return "volume " + sourceVolume + " of backup " + backup + " in repository " + repository
                + (overlay == null ? "" : " with the writes in overlay " + overlay);
    }
}
