package dev.shadowcopy.image.manifest;

import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Keys;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryJson;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
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
 *
 * <p>On object storage the same objects and order apply (the marker's deletion, a single request, is the commit;
 * the manifest is the last object written before it). The marker there names the lease of the backup writing the
 * point, so that a garbage collection can tell a backup in flight (lease alive) from an interrupted one; the
 * committed points are found with one listing of {@code backups/}.
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

    private static final String DIR = "backups";

    private static String dir(String id) {
        return DIR + "/" + id;
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
        if (repo.lockFree()) {
            directories().forEach((id, files) -> {
                if (validId(id) && !files.contains(PARTIAL)) {
                    out.add(id);
                }
            });
            return out;
        }
        for (String n : repo.backend().list(DIR)) {
            if (validId(n) && committed(dir(n))) {
                out.add(n);
            }
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }

    /** Backup directories (keys) that are no point: being written, cut short by a crash, or being deleted. */
    public List<String> uncommitted() throws IOException {
        List<String> out = new ArrayList<>();
        if (repo.lockFree()) {
            directories().forEach((id, files) -> {
                if (!validId(id) || files.contains(PARTIAL)) {
                    out.add(dir(id));
                }
            });
            return out;
        }
        for (String n : repo.backend().list(DIR)) {
            String p = dir(n);
            if (repo.backend().isDirectory(p) && !committed(p)) {
                out.add(p);
            }
        }
        return out;
    }

    /** Object storage: every backup directory with the names of its objects, from one listing. */
    private Map<String, List<String>> directories() throws IOException {
        Map<String, List<String>> dirs = new TreeMap<>();
        for (var o : repo.backend().listTree(DIR + "/")) {
            String rest = o.key().substring(DIR.length() + 1);
            int slash = rest.indexOf('/');
            if (slash > 0) {
                dirs.computeIfAbsent(rest.substring(0, slash), k -> new ArrayList<>()).add(rest.substring(slash + 1));
            }
        }
        return dirs;
    }

    private boolean committed(String d) throws IOException {
        if (!repo.backend().isDirectory(d)) {
            return false;
        }
        List<String> files = repo.backend().list(d);
        return !files.isEmpty() && !files.contains(PARTIAL);
    }

    /**
     * The lease named by a backup directory's marker (object storage), or null when it names none (a directory's
     * markers are empty).
     */
    public String markerLease(String dirKey) throws IOException {
        byte[] b;
        try {
            b = repo.read(dirKey + "/" + PARTIAL);
        } catch (NoSuchFileException e) {
            return null;
        }
        if (b.length == 0) {
            return null;
        }
        try {
            return RepositoryJson.MAPPER.readTree(b).path("lease").asText(null);
        } catch (IOException e) {
            return null;
        }
    }

    /** Accepts an id, a unique prefix of one, or {@code latest} (of any host). */
    public String resolve(String idOrAlias) throws IOException {
        return resolve(idOrAlias, null);
    }

    /**
     * Accepts an id, a unique prefix of one, or {@code latest}: the newest point of {@code host} (null: of any host).
     * Points written before hosts were recorded count for every host.
     */
    public String resolve(String idOrAlias, String host) throws IOException {
        List<String> ids = ids();
        if ("latest".equals(idOrAlias)) {
            if (ids.isEmpty()) {
                throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "the repository has no backups");
            }
            if (host == null) {
                return ids.getLast();
            }
            List<String> others = new ArrayList<>();
            for (String id : ids.reversed()) {
                String h;
                try {
                    h = manifest(id).host();
                } catch (IOException e) {
                    continue; // unreadable: not anyone's latest
                }
                if (h == null || h.equals(host)) {
                    return id;
                }
                if (!others.contains(h)) {
                    others.add(h);
                }
            }
            throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "the repository has no backup of host "
                    + host + " (it has backups of " + String.join(", ", others) + "; name one with --host)");
        }
        List<String> match = ids.stream().filter(i -> i.startsWith(idOrAlias)).toList();
        if (match.size() == 1 || match.contains(idOrAlias)) {
            return match.contains(idOrAlias) ? idOrAlias : match.getFirst();
        }
        throw new RepositoryException(RepositoryException.Code.NOT_FOUND, match.isEmpty()
                ? "no backup " + idOrAlias + " in " + repo.location()
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
        repo.publish(dir(id) + "/manifest",
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
        if (idx.size() != v.size() || idx.chunkSize() != v.chunkSize() || v.chunkSize() != repo.chunkSize()) {
            // the repository's chunk size bounds every buffer a reader allocates for this index
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "backup " + m.id() + ": index of volume "
                    + v.name() + " disagrees with its manifest or the repository on its size or chunk size");
        }
        if (repo.lockFree()) {
            // whoever reads an index relies on its chunks: claimed if a pending collection marked any
            List<ChunkId> objects = new ArrayList<>(idx.chunks().length);
            idx.forEachObject(objects::add);
            var gone = repo.protect(objects);
            if (!gone.isEmpty()) {
                throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "backup " + m.id() + " was deleted "
                        + "while it was read: a garbage collection removed " + gone.size() + " of its chunks");
            }
        }
        return idx;
    }

    private byte[] read(String id, String file, byte kind) throws IOException {
        if (!validId(id)) {
            throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "no backup " + id);
        }
        byte[] blob;
        try {
            blob = repo.read(dir(id) + "/" + file);
        } catch (NoSuchFileException e) {
            throw new RepositoryException(repo.backend().isDirectory(dir(id))
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
            String d = dir(id);
            if (repo.backend().exists(d) || repo.lockFree() && repo.backend().isDirectory(d)) {
                if (attempt > 100) {
                    throw new RepositoryException(RepositoryException.Code.EXISTS, "no free backup id for " + created);
                }
                continue;
            }
            repo.makeDirectory(d);
            try {
                repo.writeNew(d + "/" + PARTIAL, marker());
            } catch (FileAlreadyExistsException e) {
                continue; // another backup of the same second chose the same id
            }
            repo.backend().syncDirectory(d); // the marker is durable before anything else is written here
            repo.backend().syncDirectory(DIR);
            return new Pending(id, d);
        }
    }

    /** A backup point being written. */
    public final class Pending {
        private final String id;
        private final String dir;

        private Pending(String id, String dir) {
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
            if (repo.lockFree()) {
                repo.checkLeases(); // a lapsed lease may no longer have been waited for: no commit then
            }
            repo.backend().delete(dir + "/" + PARTIAL); // the commit: durable on return
        }

        /** Removes what was written (the chunks stay until garbage collection). */
        public void abandon() {
            repo.deleteTree(dir, PARTIAL);
        }

        private void write(String file, byte[] blob) throws IOException {
            repo.writeNew(dir + "/" + file, blob);
        }
    }

    /**
     * Deletes a backup point: marked partial again (durable with the fsync of its directory: from then on it is no
     * point), then its files removed, the marker last. Its chunks stay until garbage collection.
     */
    public void delete(String id) throws IOException {
        String d = dir(id);
        if (!validId(id) || !repo.backend().isDirectory(d)) {
            throw new RepositoryException(RepositoryException.Code.NOT_FOUND, "no backup " + id);
        }
        if (!repo.backend().exists(d + "/" + PARTIAL)) {
            repo.writeNew(d + "/" + PARTIAL, marker());
        }
        repo.backend().syncDirectory(d);
        repo.deleteTree(d, PARTIAL);
        Verdicts.of(repo).delete(id); // after the point: a crash between leaves an orphan verdict, never a bare point
    }

    /** A directory's marker is empty; object storage's names the lease of the backup or deletion at work. */
    private byte[] marker() throws IOException {
        if (!repo.lockFree()) {
            return new byte[0];
        }
        var n = RepositoryJson.MAPPER.createObjectNode();
        n.put("lease", Objects.requireNonNullElse(repo.currentLease(), ""));
        n.put("host", Leases.HostName.current());
        return RepositoryJson.MAPPER.writeValueAsBytes(n);
    }
}
