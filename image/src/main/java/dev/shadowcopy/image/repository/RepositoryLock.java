package dev.shadowcopy.image.repository;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The repository lock: backups, restores and verifies share it; prune and garbage collection take it
 * exclusively, so a sweep never removes a chunk that a running backup has just decided to reuse.
 *
 * <p>Between processes it is a POSIX record lock on {@code DIR/lock} (released by the kernel when the holder
 * dies, so a killed backup never leaves the repository locked). POSIX locks belong to the process, so within
 * one JVM a read-write lock orders the threads and one file lock is held for all of them.
 */
public final class RepositoryLock implements AutoCloseable {
    public static final String FILE = "lock";

    public enum Mode { SHARED, EXCLUSIVE }

    private static final Map<Path, Holder> HOLDERS = new ConcurrentHashMap<>();
    /** Repositories on a simulated disk: no file to lock, only this process's threads to order. */
    private static final Map<Path, Holder> IN_PROCESS = new ConcurrentHashMap<>();

    private static final class Holder {
        final ReentrantReadWriteLock rw = new ReentrantReadWriteLock(true);
        FileChannel channel;
        FileLock fileLock;
        int shared;
    }

    private final Holder holder;
    private final Mode mode;
    private final Lease lease;
    private boolean closed;

    private RepositoryLock(Holder holder, Mode mode) {
        this.holder = holder;
        this.mode = mode;
        this.lease = null;
    }

    private RepositoryLock(Lease lease, Mode mode) {
        this.holder = null;
        this.mode = mode;
        this.lease = lease;
    }

    /** Object storage: no lock, the operation's lease in its place (see {@link Repository#lock}). */
    static RepositoryLock leased(Mode mode, Lease lease) {
        return new RepositoryLock(lease, mode);
    }

    /** The lease this "lock" stands for on object storage, or null in a directory. */
    public Lease lease() {
        return lease;
    }

    /** @param processes also exclude other processes (a record lock on {@code DIR/lock}, a real file) */
    static RepositoryLock acquire(Path root, Mode mode, Duration wait, String purpose, boolean processes)
            throws IOException {
        Path key = root.toAbsolutePath().normalize();
        Holder h = (processes ? HOLDERS : IN_PROCESS).computeIfAbsent(key, k -> new Holder());
        long deadline = System.nanoTime() + wait.toNanos();
        var jvmLock = mode == Mode.SHARED ? h.rw.readLock() : h.rw.writeLock();
        try {
            if (!jvmLock.tryLock(wait.toNanos(), TimeUnit.NANOSECONDS)) {
                throw locked(root, mode, purpose);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the repository lock");
        }
        try {
            synchronized (h) {
                if (processes && (mode == Mode.EXCLUSIVE || h.shared++ == 0)) {
                    try {
                        if (h.channel == null) {
                            h.channel = FileChannel.open(key.resolve(FILE), java.util.Set.of(StandardOpenOption.READ,
                                    StandardOpenOption.WRITE, StandardOpenOption.CREATE), Repository.PRIVATE_FILE);
                        }
                        h.fileLock = takeFileLock(h.channel, mode == Mode.SHARED, deadline);
                        if (h.fileLock == null) {
                            throw locked(root, mode, purpose);
                        }
                    } catch (IOException | RuntimeException e) {
                        if (mode == Mode.SHARED) {
                            h.shared--;
                        }
                        throw e;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            jvmLock.unlock();
            throw e;
        }
        return new RepositoryLock(h, mode);
    }

    private static FileLock takeFileLock(FileChannel ch, boolean shared, long deadline) throws IOException {
        long pause = 5;
        while (true) {
            FileLock l = ch.tryLock(0, Long.MAX_VALUE, shared);
            if (l != null || System.nanoTime() - deadline >= 0) {
                return l;
            }
            try {
                Thread.sleep(pause); // another process holds it; the kernel offers no wakeup for a try-lock
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the repository lock");
            }
            pause = Math.min(100, pause * 2);
        }
    }

    private static RepositoryException locked(Path root, Mode mode, String purpose) {
        return new RepositoryException(RepositoryException.Code.LOCKED, "repository " + root + " is in use ("
                + (mode == Mode.SHARED ? "a prune or garbage collection is running" : "a backup, restore or verify "
                + "is running") + "); " + purpose + " cannot start now, try again when it has finished");
    }

    public Mode mode() {
        return mode;
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        if (lease != null) {
            lease.close();
            return;
        }
        try {
            synchronized (holder) {
                if (holder.fileLock != null && (mode == Mode.EXCLUSIVE || --holder.shared == 0)) {
                    holder.fileLock.release();
                    holder.fileLock = null;
                }
            }
        } finally {
            (mode == Mode.SHARED ? holder.rw.readLock() : holder.rw.writeLock()).unlock();
        }
    }
}
