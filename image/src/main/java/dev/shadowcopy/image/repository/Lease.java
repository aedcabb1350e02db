package dev.shadowcopy.image.repository;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Closeable;
import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * What an operation on object storage holds instead of a lock: the object {@code leases/<id>}, rewritten every
 * {@link Timing#heartbeat} (its time of last write, the store's clock, says it is alive) and deleted at the end. A
 * lease not rewritten for {@link Timing#stale} belongs to a dead process.
 *
 * <p>Object body (a {@link BlobCodec#STATE} blob named by its key): JSON {@code {"host", "pid", "purpose",
 * "started", "claims": [chunk ids in hex]}}. Claims are the chunks of the pending garbage collection generation
 * that this operation relies on; the sweep leaves every chunk claimed by a live lease (docs/backup.md).
 *
 * <p>A lease whose heartbeat failed for longer than half of {@link Timing#stale} may already count as dead to a
 * collection, which then no longer waits for it: {@link #check} fails from then on, and a backup does not commit.
 *
 * <p>Thread-safety: safe; claims and rewrites are serialised on the lease.
 */
public final class Lease implements Closeable {
    /** Lease kinds, the first word of the id: only one garbage collection runs at a time. */
    public static final String GC = "gc";
    public static final String OP = "op";

    /** How often a lease is rewritten and when it counts as dead; fixed per process (system properties in tests). */
    public record Timing(Duration heartbeat, Duration stale, Duration listingDelay) {
        /**
         * Heartbeat 60 s, stale after 10 min; the listing delay is 0 unless {@code SHADOWCOPY_S3_LISTING_DELAY_MS} (a
         * store whose listings lag its writes) says otherwise. The system properties
         * {@code shadowcopy.lease.heartbeat-ms}, {@code shadowcopy.lease.stale-ms} and
         * {@code shadowcopy.s3.listing-delay-ms} override them (tests).
         */
        public static Timing current() {
            long delay = Long.getLong("shadowcopy.s3.listing-delay-ms", listingDelayFromEnvironment());
            return new Timing(Duration.ofMillis(Long.getLong("shadowcopy.lease.heartbeat-ms", 60_000)),
                    Duration.ofMillis(Long.getLong("shadowcopy.lease.stale-ms", 600_000)), Duration.ofMillis(delay));
        }

        private static long listingDelayFromEnvironment() {
            String env = System.getenv("SHADOWCOPY_S3_LISTING_DELAY_MS");
            if (env == null || env.isBlank()) {
                return 0;
            }
            String wrong = "SHADOWCOPY_S3_LISTING_DELAY_MS is '" + env
                    + "' (expected: milliseconds, 0 or more; unset for a store whose listings are consistent)";
            long ms;
            try {
                ms = Long.parseLong(env.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(wrong, e);
            }
            if (ms < 0) {
                throw new IllegalArgumentException(wrong);
            }
            return ms;
        }
    }

    private final Leases owner;
    private final String id;
    private final String purpose;
    private final Instant started = Instant.now();
    private final Set<String> claims = new LinkedHashSet<>();
    private volatile long renewedAt; // System.nanoTime() before the last successful write began
    private volatile IOException heartbeatFailure;
    private ScheduledFuture<?> heartbeat;
    private boolean closed;

    Lease(Leases owner, String id, String purpose) {
        this.owner = owner;
        this.id = id;
        this.purpose = purpose;
    }

    public String id() {
        return id;
    }

    public String key() {
        return Leases.DIR + id;
    }

    synchronized void start(ScheduledFuture<?> heartbeat) {
        this.heartbeat = heartbeat;
    }

    /** Writes the lease with its claims; durable on return. */
    synchronized void write() throws IOException {
        if (closed) {
            return;
        }
        long t = System.nanoTime();
        ObjectNode body = RepositoryJson.MAPPER.createObjectNode();
        body.put("host", owner.host()).put("pid", ProcessHandle.current().pid()).put("purpose", purpose)
                .put("started", started.toString());
        var a = body.putArray("claims");
        claims.forEach(a::add);
        byte[] plain = RepositoryJson.MAPPER.writeValueAsBytes(body);
        owner.repo().backend().publish(key(), owner.repo().codec().encode(BlobCodec.STATE, plain, plain.length, key()));
        renewedAt = t;
    }

    void renew() {
        try {
            write();
            heartbeatFailure = null;
        } catch (IOException e) {
            heartbeatFailure = e; // the next check() says so if it lasts
        }
    }

    /** Adds claims and rewrites the lease: durable before this returns, so before the caller relies on them. */
    synchronized void claim(Collection<ChunkId> ids) throws IOException {
        boolean added = false;
        for (ChunkId c : ids) {
            added |= claims.add(c.hex());
        }
        if (added) {
            write();
        }
    }

    /**
     * Fails when this lease may have counted as dead: not rewritten for half the stale time (a collection may have
     * stopped waiting for it and sweep what it uses).
     */
    public void check() throws RepositoryException {
        long since = System.nanoTime() - renewedAt;
        if (since > owner.timing().stale().toNanos() / 2) {
            IOException f = heartbeatFailure;
            throw new RepositoryException(RepositoryException.Code.LOCKED, "lost the lease on repository "
                    + owner.repo().location() + ": it was not renewed for " + TimeUnit.NANOSECONDS.toSeconds(since)
                    + " s" + (f != null ? " (" + f.getMessage() + ")" : "") + "; a garbage collection may have "
                    + "stopped waiting for this " + purpose + ", so it stops here. Run it again", f);
        }
    }

    /** Ends the heartbeat and deletes the lease object. */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            if (heartbeat != null) {
                heartbeat.cancel(false);
            }
        }
        owner.ended(this);
        owner.repo().backend().delete(key());
    }

    /** A lease as a collection sees it: the body of another process's lease object. */
    record Seen(String id, String host, String purpose, Instant started, List<ChunkId> claims) {
        static Seen decode(Repository repo, String id, byte[] blob) throws IOException {
            String key = Leases.DIR + id;
            byte[] plain = repo.codec().decode(BlobCodec.STATE, blob, blob.length, key, null);
            JsonNode n = RepositoryJson.MAPPER.readTree(java.util.Arrays.copyOf(plain, BlobCodec.plainLength(blob)));
            List<ChunkId> claims = new ArrayList<>();
            for (JsonNode c : n.path("claims")) {
                ChunkId cid = ChunkId.parse(c.asText());
                if (cid != null) {
                    claims.add(cid);
                }
            }
            Instant started = null;
            try {
                started = Instant.parse(n.path("started").asText());
            } catch (RuntimeException e) {
                // an unreadable start time is only shown
            }
            return new Seen(id, n.path("host").asText("?"), n.path("purpose").asText("?"), started, claims);
        }
    }

    static String newId(String kind) {
        byte[] r = new byte[8];
        new SecureRandom().nextBytes(r);
        return kind + "-" + HexFormat.of().formatHex(r);
    }

    @Override
    public String toString() {
        return "lease " + id + " (" + purpose + ")";
    }
}
