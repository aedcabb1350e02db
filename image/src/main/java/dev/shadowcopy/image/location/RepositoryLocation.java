package dev.shadowcopy.image.location;

import dev.shadowcopy.image.repository.LocalBackend;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryBackend;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.s3.ChunkCache;
import dev.shadowcopy.image.repository.s3.S3Backend;
import dev.shadowcopy.image.repository.s3.S3Clients;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Where a repository is, as {@code --repo} names it: a directory, or {@code s3://BUCKET[/PREFIX]} (endpoint, region and
 * credentials from the AWS SDK's environment and profile: {@link S3Clients}). This is the one place that turns the
 * text into a backend, so the layers above take a location and never care which kind it is.
 *
 * @param directory the directory (absolute), or null for S3
 * @param bucket    the bucket, or null for a directory
 * @param prefix    the key prefix inside the bucket ("" for none)
 */
public record RepositoryLocation(Path directory, String bucket, String prefix) {
    /** S3's bucket naming rules (3–63 lower-case letters, digits, dots and hyphens). */
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
    /** Default chunk size of a repository created on object storage: a quarter of the requests of 1 MiB chunks. */
    public static final int OBJECT_STORE_CHUNK_SIZE = 4 << 20;

    public RepositoryLocation {
        if ((directory == null) == (bucket == null)) {
            throw new IllegalArgumentException("a repository location is a directory or a bucket");
        }
    }

    /** Parses {@code --repo}: {@code s3://bucket/prefix}, or anything else as a directory. */
    public static RepositoryLocation parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("--repo is empty: give a directory or s3://BUCKET/PREFIX");
        }
        if (text.startsWith("s3://")) {
            String rest = text.substring(5);
            while (rest.endsWith("/")) {
                rest = rest.substring(0, rest.length() - 1);
            }
            int slash = rest.indexOf('/');
            String bucket = slash < 0 ? rest : rest.substring(0, slash);
            String prefix = slash < 0 ? "" : rest.substring(slash + 1);
            if (!BUCKET.matcher(bucket).matches()) {
                throw new IllegalArgumentException("s3://" + bucket + ": not a valid bucket name (3 to 63 lower-case "
                        + "letters, digits, dots and hyphens)");
            }
            if (prefix.contains("//") || prefix.startsWith("/")) {
                throw new IllegalArgumentException(text + ": the prefix has an empty level");
            }
            return new RepositoryLocation(null, bucket, prefix);
        }
        if (text.contains("://")) {
            throw new IllegalArgumentException(text + ": unknown kind of repository (a directory, or s3://BUCKET/PREFIX)");
        }
        return new RepositoryLocation(Path.of(text).toAbsolutePath().normalize(), null, null);
    }

    public boolean isObjectStore() {
        return bucket != null;
    }

    /** The backend for this location; with {@code cache} (S3 only) chunk reads go through a local disk cache. */
    public RepositoryBackend backend(boolean cache) throws IOException {
        if (directory != null) {
            return new LocalBackend(directory);
        }
        ChunkCache c = cache ? new ChunkCache(ChunkCache.defaultDir(toString()).resolve("chunks"),
                Long.getLong("shadowcopy.cache-bytes", 1L << 30)) : null;
        try {
            return new S3Backend(S3Clients.build(null), bucket, prefix, c);
        } catch (RuntimeException e) { // the SDK's configuration errors (no region, bad endpoint ...) are unchecked
            throw new RepositoryException(RepositoryException.Code.INVALID, this + ": " + e.getMessage(), e);
        }
    }

    /** Opens the repository here. */
    public Repository open(char[] passphrase) throws IOException {
        return open(passphrase, false);
    }

    /** Opens the repository here; {@code cache}: see {@link #backend}. */
    public Repository open(char[] passphrase, boolean cache) throws IOException {
        RepositoryBackend b = backend(cache);
        try {
            return Repository.open(b, passphrase);
        } catch (IOException | RuntimeException e) {
            b.close();
            throw e;
        }
    }

    /** Creates a repository here (a bucket is created if absent); a null chunk size takes the kind's default. */
    public Repository init(Repository.InitOptions o) throws IOException {
        RepositoryBackend b = backend(false);
        try {
            return Repository.init(b, o);
        } catch (IOException | RuntimeException e) {
            b.close();
            throw e;
        }
    }

    /** The default options of a new repository here (object storage: larger chunks, see docs/benchmarks.md). */
    public Repository.InitOptions defaults(char[] passphrase) {
        Repository.InitOptions d = Repository.InitOptions.defaults(passphrase);
        return isObjectStore() ? new Repository.InitOptions(OBJECT_STORE_CHUNK_SIZE, d.compressionLevel(), passphrase,
                d.kdfIterations()) : d;
    }

    /**
     * Opens the repository, or creates it with the defaults (encrypted when a passphrase is given) if there is none
     * yet: a missing or empty directory, or a bucket (or prefix) without a repository.
     */
    public Repository openOrCreate(char[] passphrase) throws IOException {
        if (directory != null) {
            if (!Repository.exists(directory) && (!Files.exists(directory) || isEmptyDir(directory))) {
                return Repository.init(directory, defaults(passphrase));
            }
            return Repository.open(directory, passphrase);
        }
        RepositoryBackend b = backend(false);
        try {
            if (!b.exists(Repository.CONFIG) && b.list("").isEmpty()) {
                return Repository.init(b, defaults(passphrase));
            }
            return Repository.open(b, passphrase);
        } catch (IOException | RuntimeException e) {
            b.close();
            throw e;
        }
    }

    private static boolean isEmptyDir(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    @Override
    public String toString() {
        return directory != null ? directory.toString() : "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix);
    }
}
