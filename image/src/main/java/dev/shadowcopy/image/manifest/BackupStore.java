package dev.shadowcopy.image.manifest;

import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.Keys;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryJson;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * The backup points of a repository: {@code backups/<id>/manifest} and {@code backups/<id>/<n>.index}.
 *
 * <p>A backup point appears atomically, through file operations only (the {@link dev.shadowcopy.platform.Storage}
 * seam has no directory renames): {@code backups/<id>/} is made with a {@link #PARTIAL} marker in it, durable
 * before anything else is written there; the indexes and the manifest are written; the repository's file system is
 * synced (chunks, indexes, manifest); then the marker is deleted, durably — that deletion is the commit. A
 * directory with the marker, or with nothing in it, is no backup point (garbage collection removes it); a crash
 * before the commit leaves none, after it the point is complete. Deleting a point puts the marker back first
 * (durably), then removes the files, the marker last.
 *
 * <p>Repositories written before the marker (points written in {@code tmp/<id>.partial/} and renamed into
 * {@code backups/}) read the same: their committed points have no marker, their leftovers are in {@code tmp/}.
 */
public final class BackupStore {
    private static final Pattern ID = Pattern.compile("\\d{8}-\\d{6}-[0-9a-f]{4}");
    private static final DateTimeFormatter ID_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
            .withZone(ZoneOffset.UTC);

    /** The marker of a backup directory that is not (or no longer) a backup point. */
    public static final String PARTIAL = ".partial";

    private final Repository repo;

    private BackupStore(Repository repo) {
        this.repo = repo;
    }

    /** The backup points of {@code repo} (the store keeps no state of its own: any number may be made). */
    public static BackupStore of(Repository repo) {
        return new BackupStore(repo);
    }

    private Path dir() {
        return repo.root().resolve("backups");
    }

    public static boolean validId(String id) {
        return id != null && ID.matcher(id).matches();
    }

    /**
     * Ids of the committed backup points, oldest first: every backup directory, readable or not. A directory is
     * only ever renamed into {@code backups/} whole, so one whose manifest is missing or unreadable is a damaged
     * point — verify reports it, garbage collection refuses to guess its chunks — never "no point".
     */
    public List<String> ids() throws IOException {
        List<String> out = new ArrayList<>();
        for (String n : repo.storage().list(dir())) {
            if (validId(n) && committed(dir().resolve(n))) {
                out.add(n);
            }
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }

    /** Backup directories that are no point: being written, cut short by a crash, or being deleted. */
    public List<Path> uncommitted() throws IOException {
        List<Path> out = new ArrayList<>();
        for (String n : repo.storage().list(dir())) {
            Path p = dir().resolve(n);
            if (repo.storage().isDirectory(p) && !committed(p)) {
                out.add(p);
            }
        }
        return out;
    }

    private boolean committed(Path d) throws IOException {
        if (!repo.storage().isDirectory(d)) {
            return false;
        }
        List<String> files = repo.storage().list(d);
        return !files.isEmpty() && !files.contains(PARTIAL);
    }

    /** Accepts an id, a unique prefix of one, or {@code latest}. */
    public String resolve(String idOrAlias) throws IOException {
        List<String> ids = ids();
        if ("latest".equals(idOrAlias)) {
            if (ids.isEmpty()) {
                throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "the repository has no backups");
            }
            return ids.getLast();
        }
        List<String> match = ids.stream().filter(i -> i.startsWith(idOrAlias)).toList();
        if (match.size() == 1 || match.contains(idOrAlias)) {
            return match.contains(idOrAlias) ? idOrAlias : match.getFirst();
        }
        throw new RepositoryException(RepositoryException.Code.NOT_FOUND, match.isEmpty()
                ? "no backup " + idOrAlias + " in " + repo.root()
                : "backup id " + idOrAlias + " is ambiguous: " + String.join(", ", match));
    }

    public Manifest manifest(String id) throws IOException {
        byte[] plain = read(id, "manifest", BlobCodec.MANIFEST);
        try {
            Manifest m = RepositoryJson.MAPPER.readValue(plain, Manifest.class);
            if (m.format() != Manifest.FORMAT || !id.equals(m.id())) {
                throw new RepositoryException(RepositoryException.Code.CORRUPT, "backup " + id + ": manifest is for "
                        + m.id() + " (format " + m.format() + ")");
            }
            return m;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "backup " + id + ": manifest does not "
                    + "parse: " + e.getOriginalMessage());
        }
    }

    /**
     * True if a readable committed point holds the volume with this id (same UUID: a re-created volume of the same
     * name does not count) — the base an incremental backup of it would read from.
     */
    public boolean holdsVolume(String volumeId) throws IOException {
        for (String id : ids().reversed()) {
            Manifest m;
            try {
                m = manifest(id);
            } catch (IOException e) {
                continue; // unreadable: not a base
            }
            for (Manifest.VolumeEntry e : m.volumes()) {
                if (volumeId.equals(e.volumeId())) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Records the writers' final states in a committed point: BackupComplete (after which a database may truncate
     * its logs) comes after the commit, so the manifest first holds the states before it. The manifest is replaced
     * whole and durably (temporary name, fsync, rename, fsync of the directory): a crash leaves the old or the new
     * one. Callers hold the repository's shared lock.
     */
    public Manifest recordWriters(String id, List<Manifest.WriterEntry> writers) throws IOException {
        Manifest m = manifest(id);
        Manifest updated = new Manifest(m.format(), m.id(), m.created(), m.finished(), m.host(), m.label(), m.setId(),
                m.context(), m.consistency(), m.volumes(), writers, m.components());
        byte[] plain = RepositoryJson.MAPPER.writeValueAsBytes(updated);
        repo.publish(dir().resolve(id).resolve("manifest"),
                repo.codec().encode(BlobCodec.MANIFEST, plain, plain.length, id + "/manifest"));
        return updated;
    }

    public VolumeIndex index(Manifest m, Manifest.VolumeEntry v) throws IOException {
        String file = v.ordinal() + ".index";
        byte[] plain = read(m.id(), file, BlobCodec.INDEX);
        if (!HexFormat.of().formatHex(Keys.sha256(plain)).equals(v.indexSha256())) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "backup " + m.id() + ": index of volume "
                    + v.name() + " does not match its manifest");
        }
        VolumeIndex idx = VolumeIndex.decode(plain, plain.length, "backup " + m.id() + " index of " + v.name());
        if (idx.size() != v.size() || idx.chunkSize() != v.chunkSize()) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "backup " + m.id() + ": index of volume "
                    + v.name() + " disagrees with its manifest on size");
        }
        return idx;
    }

    private byte[] read(String id, String file, byte kind) throws IOException {
        if (!validId(id)) {
            throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "no backup " + id);
        }
        byte[] blob;
        try {
            blob = repo.read(dir().resolve(id).resolve(file));
        } catch (NoSuchFileException e) {
            throw new RepositoryException(repo.storage().isDirectory(dir().resolve(id))
                    ? RepositoryException.Code.CORRUPT : RepositoryException.Code.NOT_FOUND, "backup " + id + ": "
                    + file + " is missing");
        }
        return repo.codec().decode(kind, blob, blob.length, id + "/" + file, null);
    }

    // ------------------------------------------------------------------ writing

    /** Starts a new backup point whose data was taken at {@code created}. */
    public Pending begin(Instant created) throws IOException {
        for (int attempt = 0; ; attempt++) {
            String id = ID_TIME.format(created) + "-"
                    + String.format("%04x", ThreadLocalRandom.current().nextInt(0x10000));
            Path d = dir().resolve(id);
            if (repo.storage().exists(d)) {
                if (attempt > 100) {
                    throw new RepositoryException(RepositoryException.Code.EXISTS, "no free backup id for " + created);
                }
                continue;
            }
            repo.makeDirectory(d);
            try {
                repo.writeNew(d.resolve(PARTIAL), new byte[0]);
            } catch (FileAlreadyExistsException e) {
                continue; // another backup of the same second chose the same id
            }
            repo.storage().syncDirectory(d); // the marker is durable before anything else is written here
            repo.storage().syncDirectory(dir());
            return new Pending(id, d);
        }
    }

    /** A backup point being written. */
    public final class Pending {
        private final String id;
        private final Path dir;

        private Pending(String id, Path dir) {
            this.id = id;
            this.dir = dir;
        }

        public String id() {
            return id;
        }

        /** Writes a volume's index; returns the SHA-256 its manifest entry must carry. */
        public String writeIndex(int ordinal, VolumeIndex index) throws IOException {
            byte[] plain = index.encode();
            String file = ordinal + ".index";
            write(file, repo.codec().encode(BlobCodec.INDEX, plain, plain.length, id + "/" + file));
            return HexFormat.of().formatHex(Keys.sha256(plain));
        }

        /** Makes the backup point durable and visible (see the class comment for the order). */
        public void commit(Manifest m) throws IOException {
            if (!m.id().equals(id)) {
                throw new IllegalArgumentException("manifest of " + m.id() + " committed as " + id);
            }
            byte[] plain = RepositoryJson.MAPPER.writeValueAsBytes(m);
            write("manifest", repo.codec().encode(BlobCodec.MANIFEST, plain, plain.length, id + "/manifest"));
            repo.syncAll(); // chunks (written without fsync), their names, the indexes and the manifest
            repo.storage().delete(dir.resolve(PARTIAL)); // the commit: durable on return
        }

        /** Removes what was written (the chunks stay until garbage collection). */
        public void abandon() {
            repo.deleteTree(dir, PARTIAL);
        }

        private void write(String file, byte[] blob) throws IOException {
            repo.writeNew(dir.resolve(file), blob);
        }
    }

    /**
     * Deletes a backup point: marked partial again (durable with the fsync of its directory: from then on it is no
     * point), then its files removed, the marker last. Its chunks stay until garbage collection.
     */
    public void delete(String id) throws IOException {
        Path d = dir().resolve(id);
        if (!validId(id) || !repo.storage().isDirectory(d)) {
            throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "no backup " + id);
        }
        if (!repo.storage().exists(d.resolve(PARTIAL))) {
            repo.writeNew(d.resolve(PARTIAL), new byte[0]);
        }
        repo.storage().syncDirectory(d);
        repo.deleteTree(d, PARTIAL);
    }
}
