package dev.shadowcopy.provider.store;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Separates "append records, sync, publish them in memory" sequences (shared) from a checkpoint's capture
 * (exclusive). A checkpoint must not see a record durable in the old journal generation but not yet
 * applied in memory: it would be in neither the checkpoint nor the journal that survives it.
 */
public final class MetaGate {
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();

    public void lockShared() {
        lock.readLock().lock();
    }

    public void unlockShared() {
        lock.readLock().unlock();
    }

    public void lockExclusive() {
        lock.writeLock().lock();
    }

    public void unlockExclusive() {
        lock.writeLock().unlock();
    }
}
