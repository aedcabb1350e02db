package dev.shadowcopy.volume;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Holds a volume's I/O for the instant of a shadow copy (VSS's "hold writes"). Every data-path call runs
 * under the shared side; the commit takes the exclusive side, which waits for calls in flight to finish and
 * makes new ones wait. Non-fair: once a hold is waiting, new calls queue behind it, so a busy volume cannot
 * starve a commit.
 */
final class WriteGate {
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();

    void enter() {
        lock.readLock().lock();
    }

    void exit() {
        lock.readLock().unlock();
    }

    /** Acquires the hold, or returns false if calls in flight did not finish within {@code timeout}. */
    boolean hold(Duration timeout) throws InterruptedException {
        return lock.writeLock().tryLock(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    void release() {
        lock.writeLock().unlock();
    }

    boolean isHeldByCurrentThread() {
        return lock.isWriteLockedByCurrentThread();
    }
}
