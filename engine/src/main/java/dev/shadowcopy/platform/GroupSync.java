package dev.shadowcopy.platform;

import java.io.IOException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Group commit of {@link StorageFile#sync()}: many threads that each need "everything I wrote so far is
 * durable" share one fdatasync. The first caller becomes the leader and syncs; callers arriving while a
 * sync runs wait for the next one (the running sync may have started before their write completed), which
 * one of them leads. With N writers in flight this costs about one sync per N writes.
 *
 * <p>A failed fdatasync is not retried: after a failure the kernel may have dropped the dirty pages, so a
 * later successful sync would prove nothing (the PostgreSQL "fsyncgate" lesson). Every later call fails with
 * the original error; the owner must treat the file as failed.
 *
 * <p>Locking: {@code lock} guards the generation counters; it is never held during the fdatasync itself.
 */
public final class GroupSync {
    private final StorageFile file;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition finished = lock.newCondition();
    private long completed; // generation of the last finished sync
    private long running;   // generation of the running sync, 0 if none
    private IOException failure;

    public GroupSync(StorageFile file) {
        this.file = file;
    }

    /** Returns once a sync that started after this call began has completed. */
    public void sync() throws IOException {
        lock.lock();
        try {
            long target = (running != 0 ? running : completed) + 1;
            while (completed < target) {
                if (failure != null) {
                    throw new IOException("earlier fdatasync of " + file.name() + " failed; refusing to "
                            + "acknowledge durability", failure);
                }
                if (running == 0) {
                    running = completed + 1;
                    lock.unlock();
                    IOException error = null;
                    try {
                        file.sync();
                    } catch (IOException e) {
                        error = e;
                    } finally {
                        lock.lock();
                    }
                    if (error != null) {
                        failure = error;
                    } else {
                        completed = running;
                    }
                    running = 0;
                    finished.signalAll();
                } else {
                    finished.awaitUninterruptibly();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** The error of a failed sync, or null. */
    public IOException failure() {
        lock.lock();
        try {
            return failure;
        } finally {
            lock.unlock();
        }
    }
}
