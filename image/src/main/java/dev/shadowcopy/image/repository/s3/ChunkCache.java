package dev.shadowcopy.image.repository.s3;

import dev.shadowcopy.image.repository.ChunkId;
import dev.shadowcopy.image.repository.Keys;
import dev.shadowcopy.image.repository.Repository;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A local disk cache of chunk objects read from object storage, for {@code backups serve}: a booting guest reads the
 * same regions again and again, and each miss is a GET with the store's latency. Files hold the encoded object as
 * stored (encrypted when the repository is), named by chunk id; whatever is read from here is decoded and re-hashed
 * by {@link Repository#readChunk} like any chunk, so a damaged file fails as damage, never as wrong data.
 *
 * <p>Bounded: above {@code maxBytes} the least recently used files go (their access time is touched on each hit).
 * Writes are temporary name + rename, so a reader sees a file whole or not at all. Not durable (a cache).
 *
 * <p>Thread-safety: safe; the size count is approximate under concurrent puts.
 */
public final class ChunkCache {
    private final Path dir;
    private final long maxBytes;
    private final AtomicLong bytes = new AtomicLong();

    public ChunkCache(Path dir, long maxBytes) throws IOException {
        this.dir = dir;
        this.maxBytes = maxBytes;
        Files.createDirectories(dir, Repository.PRIVATE_DIR);
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                bytes.addAndGet(Files.size(p));
            }
        }
    }

    /** {@code $SHADOWCOPY_CACHE} or {@code ~/.cache/shadowcopy}, then one directory per repository location. */
    public static Path defaultDir(String location) {
        String base = System.getenv("SHADOWCOPY_CACHE");
        Path root = base != null && !base.isBlank() ? Path.of(base)
                : Path.of(System.getProperty("user.home"), ".cache", "shadowcopy");
        return root.resolve(HexFormat.of().formatHex(Keys.sha256(location.getBytes(StandardCharsets.UTF_8)))
                .substring(0, 16));
    }

    /** Work files (the writable overlay of {@code backups serve}) of a repository on object storage. */
    static Path workDir(String location) {
        return defaultDir(location).resolve("tmp");
    }

    public byte[] get(ChunkId id) {
        Path p = dir.resolve(id.hex());
        try {
            byte[] b = Files.readAllBytes(p);
            Files.setLastModifiedTime(p, FileTime.fromMillis(System.currentTimeMillis()));
            return b;
        } catch (IOException e) {
            return null; // a miss
        }
    }

    public void put(ChunkId id, byte[] blob) {
        Path p = dir.resolve(id.hex());
        Path tmp = dir.resolve(id.hex() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            Files.write(tmp, blob);
            Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            if (bytes.addAndGet(blob.length) > maxBytes) {
                evict();
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // a cache: what is left is removed by the next eviction
            }
        }
    }

    /** Removes the least recently used files until the cache holds 80 % of its maximum. */
    private synchronized void evict() throws IOException {
        if (bytes.get() <= maxBytes) {
            return;
        }
        List<Path> files;
        try (var s = Files.list(dir)) {
            files = new ArrayList<>(s.toList());
        }
        files.sort((a, b) -> {
            try {
                return Files.getLastModifiedTime(a).compareTo(Files.getLastModifiedTime(b));
            } catch (IOException e) {
                return 0;
            }
        });
        long total = 0;
        for (Path f : files) {
            total += Files.size(f);
        }
        for (Path f : files) {
            if (total <= maxBytes * 8 / 10) {
                break;
            }
            long n = Files.size(f);
            Files.deleteIfExists(f);
            total -= n;
        }
        bytes.set(total);
    }
}
