package dev.shadowcopy.image.manifest;

import com.fasterxml.jackson.core.JacksonException;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryJson;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Verdicts of verification kept beside the backup points they are about: {@code verdicts/<id>}, a blob
 * ({@link BlobCodec#VERDICT}; encrypted and bound to its name like a manifest) holding {@link Verdict} as JSON. Replaced
 * whole and durably by each verification (the backend's publish: temporary name, fsync, rename, directory fsync in a
 * directory; one PUT on object storage): a crash leaves the old verdict or the new one. A point without one was never
 * verified. Deleting the point deletes its verdict.
 *
 * <p>Why not inside {@code backups/<id>/}: on object storage there is no lock, and a verdict published after a
 * concurrent prune deleted its point would make a directory of one file there, which every listing would take for a
 * damaged point. Here it is only an orphan, which nobody asks for and {@link BackupStore#delete} or the next prune of
 * that id never sees; {@link #orphans} names them for the garbage collector.
 *
 * <p>Callers hold the repository's shared lock or a read lease (a verification only reads chunks; two at once replace
 * the verdict in turn, the last one stays).
 */
public final class Verdicts {
    static final String DIR = "verdicts";

    private final Repository repo;

    private Verdicts(Repository repo) {
        this.repo = repo;
    }

    public static Verdicts of(Repository repo) {
        return new Verdicts(repo);
    }

    /**
     * One verification of a backup point.
     *
     * @param ok       true when every check passed
     * @param checked  when it ended (ISO-8601)
     * @param seconds  how long it took
     * @param deep     whether the file systems and databases were checked, not only the chunks
     * @param checks   each check that ran, in order
     */
    public record Verdict(int format, String backup, boolean ok, String checked, double seconds, boolean deep,
                          List<Check> checks) {
        public static final int FORMAT = 1;

        public Verdict {
            checks = checks == null ? List.of() : List.copyOf(checks);
        }

        /** The first failed check's one-line summary, or null. */
        public String firstProblem() {
            return checks.stream().filter(c -> !c.ok()).map(c -> c.what() + ": " + c.message()).findFirst()
                    .orElse(null);
        }
    }

    /**
     * @param what    "chunks", "file system of volume V" or "database W on volume V"
     * @param tool    the program and arguments that decided (e2fsck -fn, pg_amcheck …), or null
     * @param message what it found (the tail of its output on failure)
     */
    public record Check(String what, String tool, boolean ok, String message) {}

    static String key(String id) {
        return DIR + "/" + id;
    }

    /** Records the verdict of backup {@code v.backup()}; durable on return. */
    public void record(Verdict v) throws IOException {
        if (!BackupStore.validId(v.backup())) {
            throw new IllegalArgumentException("not a backup id: " + v.backup());
        }
        byte[] plain = RepositoryJson.MAPPER.writeValueAsBytes(v);
        repo.makeDirectory(DIR);
        repo.publish(key(v.backup()), repo.codec().encode(BlobCodec.VERDICT, plain, plain.length, key(v.backup())));
    }

    /** Removes the verdict of backup {@code id}, if it has one (durable on return). */
    public void delete(String id) throws IOException {
        if (repo.backend().exists(key(id))) {
            repo.backend().delete(key(id));
            repo.backend().syncDirectory(DIR);
        }
    }

    /** Verdicts whose point is gone (a prune that raced a verification on object storage). */
    public List<String> orphans(Collection<String> points) throws IOException {
        if (!repo.backend().isDirectory(DIR)) {
            return List.of();
        }
        Set<String> live = new HashSet<>(points);
        return repo.backend().list(DIR).stream().filter(n -> !live.contains(n)).toList();
    }

    /** The last verdict of backup {@code id}, or null if it was never verified. */
    public Verdict verdict(String id) throws IOException {
        byte[] blob;
        try {
            blob = repo.read(key(id));
        } catch (NoSuchFileException e) {
            return null;
        }
        byte[] plain = repo.codec().decode(BlobCodec.VERDICT, blob, blob.length, key(id), null);
        try {
            return RepositoryJson.MAPPER.readValue(plain, Verdict.class);
        } catch (JacksonException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "backup " + id + ": its verdict does not "
                    + "parse: " + e.getOriginalMessage());
        }
    }
}
