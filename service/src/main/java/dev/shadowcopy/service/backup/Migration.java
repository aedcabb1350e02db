package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.repository.HeldRepositoryLock;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.LiveRestore;
import dev.shadowcopy.image.restore.ServeOverlay;
import dev.shadowcopy.nbd.export.DeviceExport;
import dev.shadowcopy.nbd.export.ExportRegistry;
import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.volume.ManagedVolume;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * One live restore the daemon runs: what it reads (a repository it holds the shared lock of, and a served overlay it
 * holds the lock of), the {@link LiveRestore} the volume is served through, the threads that copy, and — when a
 * running {@code backups serve} was migrated — the NBD server on that serve's socket, so that its guest reconnects to
 * the volume.
 */
final class Migration implements AutoCloseable {
    /** Copy threads per live restore: one reads the repository while the other decodes and writes. */
    static final int THREADS = 2;

    final MigrationRecord record;
    final ManagedVolume target;
    final LiveRestore live;
    private final Repository repo;
    private final HeldRepositoryLock lock;
    private final ServeOverlay overlay;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicBoolean released = new AtomicBoolean();
    private final List<Thread> copiers = new ArrayList<>();
    private NbdServer takeOver;
    private volatile String problem;

    Migration(MigrationRecord record, ManagedVolume target, LiveRestore live, Repository repo, HeldRepositoryLock lock,
              ServeOverlay overlay) {
        this.record = record;
        this.target = target;
        this.live = live;
        this.repo = repo;
        this.lock = lock;
        this.overlay = overlay;
    }

    String problem() {
        return problem;
    }

    String description() {
        return "volume " + record.volume() + ", restored live from " + record.from();
    }

    /**
     * Serves the volume on the socket of the migrated {@code backups serve} (whose guest reconnects there), under the
     * export name that serve used.
     */
    synchronized void serveTakenOverSocket() throws IOException {
        if (record.socket() == null || takeOver != null) {
            return;
        }
        Path socket = Path.of(record.socket());
        // the serve's, gone with it (or ours, from before a restart); the path came from a file its user wrote, so
        // only a socket is replaced, never a file or link that happens to be there
        if (Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            int mode = (Integer) Files.getAttribute(socket, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            if ((mode & 0170000) != 0140000) { // S_IFSOCK
                throw new IOException(socket + " is not a socket: the migrated serve's socket is not replaced");
            }
            Files.delete(socket);
        }
        String export = record.export() == null ? record.sourceVolume() : record.export();
        ExportRegistry one = new ExportRegistry() {
            @Override
            public List<Listing> list() {
                return List.of(new Listing(export, description()));
            }

            @Override
            public dev.shadowcopy.nbd.export.Export open(String name) {
                return name.equals(export) || name.isEmpty() ? new DeviceExport(export, description(), live) : null;
            }
        };
        takeOver = NbdServer.start(one, NbdServer.Config.unix(socket));
    }

    /** Starts the copy; {@code done} runs on a copy thread once every chunk is in place and durable. */
    synchronized void startCopying(Consumer<Migration> done, Consumer<Exception> failed) {
        Pacer pace = new Pacer(record.rateMbps());
        boolean[] finished = new boolean[THREADS];
        for (int t = 0; t < THREADS; t++) {
            int first = t;
            copiers.add(Thread.ofPlatform().daemon().name("live-restore-" + record.volume() + "-" + t).start(() -> {
                try {
                    boolean mine = live.copy(first, THREADS, pace, stop::get);
                    boolean all;
                    synchronized (finished) {
                        finished[first] = mine;
                        all = true;
                        for (boolean f : finished) {
                            all &= f;
                        }
                    }
                    if (all && live.complete()) {
                        done.accept(this); // the last thread to finish ends the restore, once
                    }
                } catch (IOException | RuntimeException e) {
                    problem = e.getMessage();
                    failed.accept(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
    }

    /** Stops the copy (the threads publish their progress) and waits for it. */
    void stopCopying() {
        stop.set(true);
        List<Thread> ts;
        synchronized (this) {
            ts = List.copyOf(copiers);
        }
        for (Thread t : ts) {
            if (t != Thread.currentThread()) {
                try {
                    t.join(30_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** The served overlay this restore read (its files are given up once the volume is whole), or null. */
    Path overlayPath() {
        return overlay == null ? null : overlay.path();
    }

    /**
     * Lets go of what the restore read: the overlay's lock, the repository's. The volume's device and the taken-over
     * socket keep serving (all chunks in place: the target alone), until the daemon stops.
     */
    void releaseSource() throws IOException {
        if (!released.compareAndSet(false, true)) {
            return; // at the end of the copy, and again when the daemon stops
        }
        try {
            if (overlay != null) {
                overlay.close();
            }
        } finally {
            try {
                lock.close();
            } finally {
                repo.close(); // after its lock: on object storage its lease ends here
            }
        }
    }

    /** The daemon stops: the copy stops, progress is published, the socket closes; everything resumes at start. */
    @Override
    public void close() throws IOException {
        stopCopying();
        try {
            live.close();
        } finally {
            synchronized (this) {
                if (takeOver != null) {
                    takeOver.close();
                }
            }
            releaseSource();
        }
    }

    /** Keeps the copy at or under a rate shared by the copy threads. */
    static final class Pacer implements LiveRestore.Pace {
        private final long bytesPerSecond;
        private final long t0 = System.nanoTime();
        private long total;

        Pacer(int mbps) {
            this.bytesPerSecond = mbps <= 0 ? 0 : mbps * 1_000_000L;
        }

        @Override
        public void copied(long bytes) throws InterruptedException {
            if (bytesPerSecond == 0) {
                return;
            }
            long due;
            synchronized (this) {
                total += bytes;
                due = t0 + (long) (total * 1e9 / bytesPerSecond); // in double: total * 1e9 overflows a long at 9 GB
            }
            long wait = due - System.nanoTime();
            if (wait > 0) {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
        }
    }
}
