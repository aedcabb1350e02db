package dev.shadowcopy.image.manifest;

import com.fasterxml.jackson.core.JacksonException;
import dev.shadowcopy.image.repository.BlobCodec;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryJson;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Verdicts of verification kept with the backup points they are about: {@code backups/<id>/verdict}, a blob
 * ({@link BlobCodec#VERDICT}; encrypted and bound to its name like a manifest) holding {@link Verdict} as JSON. Replaced
 * whole and durably by each verification (temporary name, fsync, rename, directory fsync): a crash leaves the old
 * verdict or the new one. A point without one was never verified. Deleting the point deletes it.
 *
 * <p>Callers hold the repository's shared lock (a verification only reads chunks; two at once replace the file in
 * turn, the last one stays).
 */
public final class Verdicts {
    static final String FILE = "verdict";

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

    private Path path(String id) {
        return repo.root().resolve("backups").resolve(id).resolve(FILE);
    }

    /** Records the verdict of backup {@code v.backup()}; durable on return. */
    public void record(Verdict v) throws IOException {
        byte[] plain = RepositoryJson.MAPPER.writeValueAsBytes(v);
        repo.publish(path(v.backup()), repo.codec().encode(BlobCodec.VERDICT, plain, plain.length, v.backup() + "/"
                + FILE));
    }

    /** The last verdict of backup {@code id}, or null if it was never verified. */
    public Verdict verdict(String id) throws IOException {
        byte[] blob;
        try {
            blob = repo.read(path(id));
        } catch (NoSuchFileException e) {
            return null;
        }
        byte[] plain = repo.codec().decode(BlobCodec.VERDICT, blob, blob.length, id + "/" + FILE, null);
        try {
            return RepositoryJson.MAPPER.readValue(plain, Verdict.class);
        } catch (JacksonException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "backup " + id + ": its verdict does not "
                    + "parse: " + e.getOriginalMessage());
        }
    }
}
