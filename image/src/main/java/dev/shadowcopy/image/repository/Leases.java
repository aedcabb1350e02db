package dev.shadowcopy.image.repository;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The leases one {@link Repository} object holds on object storage, and its view of the pending garbage collection
 * generation (the fence). A lease is written first; only then is {@code gc/pending} read, so that a collection that
 * marks after that read finds the lease and waits for it, and one that marked before it is known here (its
 * candidates are claimed before use: {@link #protect}).
 *
 * <p>Thread-safety: safe. Heartbeats run on one daemon thread shared by the process.
 */
public final class Leases {
    static final String DIR = "leases/";
    private static final ScheduledExecutorService HEARTBEATS = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("lease-heartbeat").factory());

    private final Repository repo;
    private final Lease.Timing timing = Lease.Timing.current();
    private final List<Lease> active = new CopyOnWriteArrayList<>();
    private volatile Generation fence;
    private volatile Set<ChunkId> fenced = Set.of();
    private volatile Lease implicit;

    Leases(Repository repo) {
        this.repo = repo;
    }

    Repository repo() {
        return repo;
    }

    Lease.Timing timing() {
        return timing;
    }

    String host() {
        return HostName.current();
    }

    /** Takes a lease for an operation ({@link Lease#GC} for a garbage collection, else {@link Lease#OP}). */
    Lease take(String purpose) throws IOException {
        String kind = purpose.contains("garbage collection") || purpose.contains("prune") ? Lease.GC : Lease.OP;
        Lease l = new Lease(this, Lease.newId(kind), purpose);
        l.write(); // durable before the fence is read
        active.add(l);
        long period = timing.heartbeat().toMillis();
        l.start(HEARTBEATS.scheduleAtFixedRate(l::renew, period, period, TimeUnit.MILLISECONDS));
        Generation g = Generation.read(repo);
        Set<ChunkId> ids = g == null ? Set.of() : g.candidateSet();
        fence = g;
        fenced = ids;
        return l;
    }

    void ended(Lease l) {
        active.remove(l);
        if (l == implicit) {
            implicit = null;
        }
    }

    List<Lease> active() {
        return List.copyOf(active);
    }

    /** True when the pending generation this object knows marked the chunk. */
    boolean fenced(ChunkId id) {
        return fenced.contains(id);
    }

    /** See {@link Repository#protect}. */
    Set<ChunkId> protect(Collection<ChunkId> chunks) throws IOException {
        Set<ChunkId> marked = new HashSet<>();
        Set<ChunkId> f = fenced;
        for (ChunkId c : chunks) {
            if (f.contains(c)) {
                marked.add(c);
            }
        }
        if (marked.isEmpty()) {
            return Set.of();
        }
        List<Lease> holders = active();
        if (holders.isEmpty()) {
            synchronized (this) {
                if (implicit == null) {
                    implicit = take("read");
                }
            }
            holders = active();
        }
        for (Lease l : holders) {
            l.claim(marked); // durable before the generation's state is looked at: one of the two sees the other
        }
        Generation known = fence;
        while (true) {
            Generation now = Generation.read(repo);
            if (now != null && now.generation() == known.generation() && Generation.MARKED.equals(now.state())) {
                return Set.of(); // the sweep has not begun: it will read the claims and leave these chunks
            }
            if (now == null || now.generation() != known.generation() || !sweeperAlive(now)) {
                break; // that generation's sweep ended, or died: what it removed is gone for good
            }
            sleep(Math.max(50, Math.min(1000, timing.heartbeat().toMillis() / 4)));
        }
        Set<ChunkId> missing = new HashSet<>();
        for (ChunkId c : marked) {
            if (repo.backend().chunkFileSize(c) < 0) {
                missing.add(c);
            }
        }
        return missing;
    }

    private boolean sweeperAlive(Generation g) throws IOException {
        if (g.owner() == null) {
            return false;
        }
        Instant at = repo.backend().lastModified(DIR + g.owner());
        return at != null && at.isAfter(now().minus(timing.stale()));
    }

    /** The store's clock: the time of this process's latest lease write (or of a fresh probe object). */
    public Instant now() throws IOException {
        for (Lease l : active) {
            Instant t = repo.backend().lastModified(l.key());
            if (t != null) {
                return t;
            }
        }
        return Instant.now();
    }

    /** The lease a garbage collection holds through this object (its "lock"). */
    public Lease own() throws RepositoryException {
        for (Lease l : active) {
            if (l.id().startsWith(Lease.GC + "-")) {
                return l;
            }
        }
        throw new RepositoryException(RepositoryException.Code.INVALID, "garbage collection without its lease");
    }

    /** Drops the fence this object knows: a collection, the only sweeper, needs no claims. */
    public void forgetFence() {
        fence = null;
        fenced = Set.of();
    }

    /** The claims in another process's lease. @throws java.nio.file.NoSuchFileException when it has ended */
    public static List<ChunkId> seenClaims(Repository repo, String id) throws IOException {
        return Lease.Seen.decode(repo, id, repo.backend().read(DIR + id)).claims();
    }

    /** A lease for messages: {@code backup on host h (lease op-…, since …)}. */
    public static String describe(Repository repo, String id) {
        try {
            Lease.Seen s = Lease.Seen.decode(repo, id, repo.backend().read(DIR + id));
            return s.purpose() + " on host " + s.host() + " (lease " + id + ", since " + s.started() + ")";
        } catch (IOException e) {
            return "lease " + id;
        }
    }

    /** Fails when any lease of this object may have lapsed (see {@link Lease#check}). */
    public void check() throws RepositoryException {
        for (Lease l : active) {
            l.check();
        }
    }

    /** The id of this object's first live lease, for a backup directory's marker to name; null when none. */
    public String currentId() {
        List<Lease> a = active();
        return a.isEmpty() ? null : a.getFirst().id();
    }

    void closeAll() throws IOException {
        for (Lease l : new ArrayList<>(active)) {
            l.close();
        }
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for a garbage collection's sweep to end");
        }
    }

    /** This machine's name, as manifests and leases record it unless the daemon was given {@code --host}. */
    public static final class HostName {
        private static volatile String override;

        private HostName() {}

        public static String current() {
            String o = override;
            if (o != null) {
                return o;
            }
            try {
                return InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                return "localhost";
            }
        }

        /** Set once by the daemon from {@code --host}. */
        public static void set(String name) {
            override = name;
        }
    }
}
