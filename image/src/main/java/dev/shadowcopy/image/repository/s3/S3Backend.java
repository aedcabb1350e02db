package dev.shadowcopy.image.repository.s3;

import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryBackend;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.Storage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.Delete;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * A repository in an S3 bucket under a prefix ({@code s3://BUCKET/PREFIX}): AWS S3, Ceph RGW, MinIO, s3proxy.
 * Keys of the repository become {@code PREFIX/key}.
 *
 * <p>S3 is not a file system, and this class does not pretend it is:
 * <ul>
 *   <li>No renames and no temporary names: a PUT is atomic (an object is whole or absent), so every object is
 *       written once under its final key; a backup point's commit is the deletion of its marker object.</li>
 *   <li>Chunk uploads run in a pool of {@link #UPLOADS} threads with at most {@link #IN_FLIGHT_BYTES} of encoded
 *       chunks waiting or in transfer ({@link #writeChunk} blocks beyond that: bounded memory whatever the volume);
 *       {@link #barrier} waits for all of them and reports the first failure.</li>
 *   <li>Before uploading a chunk, one HEAD asks whether the object is there: an interrupted backup's chunks, or
 *       another host's, are not sent again (a HEAD costs a tenth of a PUT and no bytes).</li>
 *   <li>Per-request cost: deletions go 1000 keys per request (one by one on a server without multi-object delete,
 *       such as s3proxy); listings 1000 keys per page; chunks are large
 *       (4 MiB by default for a repository created here: see docs/benchmarks.md) rather than packed.</li>
 *   <li>Retries with backoff are the SDK's ({@link S3Clients}); every request is idempotent.</li>
 * </ul>
 *
 * <p>Thread-safety: safe for concurrent use (the SDK client is).
 */
public final class S3Backend implements RepositoryBackend {
    /** Upload threads: S3 rewards parallel requests; the machine's cores are busy with compression meanwhile. */
    static final int UPLOADS = Integer.getInteger("shadowcopy.s3.uploads", 16);
    /** Encoded chunk bytes allowed to wait for or be in upload at once. */
    static final long IN_FLIGHT_BYTES = Long.getLong("shadowcopy.s3.in-flight-bytes", 128L << 20);

    private final S3Client s3;
    private final String bucket;
    private final String prefix; // "" or "p/" with a trailing slash
    private final String location;
    private final ExecutorService uploads;
    private final Semaphore inFlight = new Semaphore((int) Math.min(Integer.MAX_VALUE, IN_FLIGHT_BYTES >> 10));
    private final Object uploadsDone = new Object();
    private int outstanding; // uploads submitted and not ended, guarded by uploadsDone
    private final AtomicReference<Throwable> uploadFailure = new AtomicReference<>();
    private final AtomicLong putBytes = new AtomicLong();
    private final AtomicLong putObjects = new AtomicLong();
    private final AtomicLong skipped = new AtomicLong();
    private final ChunkCache cache;
    /** Set when the server has no multi-object delete (it answered 501): one DELETE per key from then on. */
    private volatile boolean singleDeletes;

    /**
     * @param prefix key prefix inside the bucket (no leading or trailing slash; may be empty)
     * @param cache  local cache of chunk objects (for {@code backups serve}), or null
     */
    public S3Backend(S3Client s3, String bucket, String prefix, ChunkCache cache) {
        this.s3 = s3;
        this.bucket = bucket;
        this.prefix = prefix == null || prefix.isEmpty() ? "" : prefix + "/";
        this.location = "s3://" + bucket + (prefix == null || prefix.isEmpty() ? "" : "/" + prefix);
        this.cache = cache;
        this.uploads = Executors.newFixedThreadPool(UPLOADS, Thread.ofPlatform().daemon().name("s3-upload-", 0)
                .factory());
    }

    @Override
    public String location() {
        return location;
    }

    @Override
    public boolean lockFree() {
        return true;
    }

    @Override
    public Path directory() {
        return null;
    }

    /** Objects and bytes uploaded so far, and chunk uploads found unnecessary (already there). */
    public record Counters(long putObjects, long putBytes, long chunksAlreadyThere) {}

    public Counters counters() {
        return new Counters(putObjects.get(), putBytes.get(), skipped.get());
    }

    private String k(String key) {
        return prefix + key;
    }

    private IOException io(String what, String key, SdkException e) {
        if (e instanceof NoSuchBucketException) {
            return new RepositoryException(RepositoryException.Code.NOT_A_REPOSITORY, location + ": bucket " + bucket
                    + " does not exist; create the repository with `shadowcopy backups init --repo " + location + "`");
        }
        return new IOException(what + " " + location + "/" + key + " failed: " + e.getMessage(), e);
    }

    @Override
    public byte[] read(String key) throws IOException {
        try {
            return s3.getObjectAsBytes(b -> b.bucket(bucket).key(k(key))).asByteArray();
        } catch (NoSuchKeyException e) {
            throw new NoSuchFileException(location + "/" + key);
        } catch (SdkException e) {
            throw io("reading", key, e);
        }
    }

    @Override
    public void writeNew(String key, byte[] data) throws IOException {
        publish(key, data); // a PUT is atomic and durable on its answer: no weaker form is cheaper
    }

    @Override
    public void publish(String key, byte[] data) throws IOException {
        try {
            s3.putObject(b -> b.bucket(bucket).key(k(key)).contentLength((long) data.length), RequestBody.fromBytes(data));
            putObjects.incrementAndGet();
            putBytes.addAndGet(data.length);
        } catch (SdkException e) {
            throw io("writing", key, e);
        }
    }

    @Override
    public void delete(String key) throws IOException {
        try {
            s3.deleteObject(b -> b.bucket(bucket).key(k(key)));
        } catch (NoSuchKeyException e) {
            // gone already
        } catch (SdkException e) {
            throw io("deleting", key, e);
        }
    }

    @Override
    public boolean exists(String key) throws IOException {
        return head(key) != null;
    }

    private HeadObjectResponse head(String key) throws IOException {
        try {
            return s3.headObject(b -> b.bucket(bucket).key(k(key)));
        } catch (NoSuchKeyException e) {
            return null;
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                return null;
            }
            throw io("looking up", key, e);
        } catch (SdkException e) {
            throw io("looking up", key, e);
        }
    }

    @Override
    public List<String> list(String dir) throws IOException {
        String p = k(dir.isEmpty() ? "" : dir + "/");
        TreeSet<String> names = new TreeSet<>();
        try {
            for (ListObjectsV2Response page : s3.listObjectsV2Paginator(ListObjectsV2Request.builder().bucket(bucket)
                    .prefix(p).delimiter("/").build())) {
                for (S3Object o : page.contents()) {
                    names.add(o.key().substring(p.length()));
                }
                for (var c : page.commonPrefixes()) {
                    String n = c.prefix().substring(p.length());
                    names.add(n.endsWith("/") ? n.substring(0, n.length() - 1) : n);
                }
            }
        } catch (NoSuchBucketException e) {
            return List.of(); // nothing there (init creates the bucket)
        } catch (SdkException e) {
            throw io("listing", dir, e);
        }
        names.remove("");
        return new ArrayList<>(names);
    }

    @Override
    public boolean isDirectory(String key) throws IOException {
        try {
            return s3.listObjectsV2(b -> b.bucket(bucket).prefix(k(key + "/")).maxKeys(1)).keyCount() > 0;
        } catch (SdkException e) {
            throw io("listing", key, e);
        }
    }

    /** The repository's root: creates the bucket if it is absent (what {@code backups init} needs); else nothing. */
    @Override
    public void makeDirectory(String dir) throws IOException {
        if (!dir.isEmpty()) {
            return;
        }
        try {
            s3.headBucket(b -> b.bucket(bucket));
        } catch (NoSuchBucketException e) {
            createBucket();
        } catch (S3Exception e) {
            if (e.statusCode() != 404) {
                throw io("looking up bucket", "", e);
            }
            createBucket();
        } catch (SdkException e) {
            throw io("looking up bucket", "", e);
        }
    }

    private void createBucket() throws IOException {
        try {
            s3.createBucket(b -> b.bucket(bucket));
        } catch (software.amazon.awssdk.services.s3.model.BucketAlreadyOwnedByYouException e) {
            // made meanwhile by us
        } catch (SdkException e) {
            throw io("creating bucket", "", e);
        }
    }

    @Override
    public void syncDirectory(String dir) {
        // names are durable with the request that made or removed them
    }

    @Override
    public void barrier() throws IOException {
        synchronized (uploadsDone) { // every upload submitted before this call has ended
            while (outstanding > 0) {
                try {
                    uploadsDone.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while waiting for uploads to " + location);
                }
            }
        }
        Throwable t = uploadFailure.getAndSet(null);
        if (t != null) {
            throw t instanceof IOException io ? io : new IOException("upload to " + location + " failed: " + t, t);
        }
    }

    // ------------------------------------------------------------------ chunks

    private static String chunkKey(ChunkId id) {
        String h = id.hex();
        return "chunks/" + h.substring(0, 3) + "/" + h;
    }

    @Override
    public boolean writeChunk(ChunkId id, byte[] blob) throws IOException {
        Throwable earlier = uploadFailure.get();
        if (earlier != null) {
            throw new IOException("an earlier upload to " + location + " failed: " + earlier.getMessage(), earlier);
        }
        String key = chunkKey(id);
        if (head(key) != null) { // whole, since a PUT is atomic: an interrupted backup's, or another host's
            skipped.incrementAndGet();
            return false;
        }
        int permits = (int) Math.max(1, Math.min(inFlight.availablePermits() + 1L, (blob.length + 1023L) >> 10));
        try {
            inFlight.acquire(permits);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting to upload to " + location);
        }
        synchronized (uploadsDone) {
            outstanding++;
        }
        try {
            uploads.execute(() -> {
                try {
                    publish(key, blob);
                } catch (IOException | RuntimeException e) {
                    uploadFailure.compareAndSet(null, e);
                } finally {
                    inFlight.release(permits);
                    ended();
                }
            });
        } catch (RuntimeException e) {
            inFlight.release(permits);
            ended();
            throw new IOException("upload to " + location + " could not start: " + e, e);
        }
        return true;
    }

    private void ended() {
        synchronized (uploadsDone) {
            if (--outstanding == 0) {
                uploadsDone.notifyAll();
            }
        }
    }

    @Override
    public byte[] readChunk(ChunkId id) throws IOException {
        if (cache != null) {
            byte[] hit = cache.get(id);
            if (hit != null) {
                return hit;
            }
        }
        byte[] b = read(chunkKey(id));
        if (cache != null) {
            cache.put(id, b);
        }
        return b;
    }

    @Override
    public long chunkFileSize(ChunkId id) throws IOException {
        HeadObjectResponse h = head(chunkKey(id));
        return h == null ? -1 : h.contentLength();
    }

    @Override
    public long deleteChunks(Collection<ChunkId> ids) throws IOException {
        List<ObjectIdentifier> batch = new ArrayList<>();
        long n = 0;
        for (ChunkId id : ids) {
            batch.add(ObjectIdentifier.builder().key(k(chunkKey(id))).build());
            if (batch.size() == 1000) {
                n += deleteBatch(batch);
                batch.clear();
            }
        }
        if (!batch.isEmpty()) {
            n += deleteBatch(batch);
        }
        return n;
    }

    private long deleteBatch(List<ObjectIdentifier> batch) throws IOException {
        if (singleDeletes) {
            for (ObjectIdentifier o : batch) {
                delete(o.key().substring(prefix.length()));
            }
            return batch.size();
        }
        try {
            var r = s3.deleteObjects(b -> b.bucket(bucket).delete(Delete.builder().objects(batch).quiet(true).build()));
            if (!r.errors().isEmpty()) {
                var e = r.errors().getFirst();
                throw new IOException("deleting " + r.errors().size() + " chunks from " + location + " failed, e.g. "
                        + e.key() + ": " + e.code() + " " + e.message());
            }
            return batch.size();
        } catch (S3Exception e) {
            if (e.statusCode() == 501 || "NotImplemented".equals(e.awsErrorDetails().errorCode())) {
                // some S3-compatible servers (s3proxy) refuse the checksum header the SDK puts on a multi-delete
                singleDeletes = true;
                return deleteBatch(batch);
            }
            throw io("deleting chunks from", "chunks/", e);
        } catch (SdkException e) {
            throw io("deleting chunks from", "chunks/", e);
        }
    }

    @Override
    public void forEachChunkFile(Consumer<ChunkId> chunk, Consumer<String> leftover) throws IOException {
        for (ObjectInfo o : listTree("chunks/")) {
            String name = o.key().substring(o.key().lastIndexOf('/') + 1);
            ChunkId id = ChunkId.parse(name);
            if (id != null && !id.isZero() && o.key().equals(chunkKey(id))) {
                chunk.accept(id);
            } else {
                leftover.accept(o.key());
            }
        }
    }

    @Override
    public List<ObjectInfo> listTree(String keyPrefix) throws IOException {
        List<ObjectInfo> out = new ArrayList<>();
        try {
            for (ListObjectsV2Response page : s3.listObjectsV2Paginator(ListObjectsV2Request.builder().bucket(bucket)
                    .prefix(k(keyPrefix)).build())) {
                for (S3Object o : page.contents()) {
                    out.add(new ObjectInfo(o.key().substring(prefix.length()), o.size(), o.lastModified()));
                }
            }
        } catch (NoSuchBucketException e) {
            return out;
        } catch (SdkException e) {
            throw io("listing", keyPrefix, e);
        }
        return out;
    }

    @Override
    public Instant lastModified(String key) throws IOException {
        HeadObjectResponse h = head(key);
        return h == null ? null : h.lastModified();
    }

    // ------------------------------------------------------------------ work files

    @Override
    public Path workDir() {
        Path d = ChunkCache.workDir(location);
        try {
            // a local directory made on first use: a repository on object storage has no tmp/ of its own
            Files.createDirectories(d, Repository.PRIVATE_DIR);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the work directory " + d + " of " + location + " (" + e
                    + "); point SHADOWCOPY_CACHE at a writable local directory", e);
        }
        return d;
    }

    @Override
    public Storage workStorage() {
        return LocalStorage.INSTANCE;
    }

    @Override
    public void close() {
        uploads.shutdown();
        s3.close();
    }

    @Override
    public String toString() {
        return "repository " + location;
    }
}
