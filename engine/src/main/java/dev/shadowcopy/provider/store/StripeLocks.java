package dev.shadowcopy.provider.store;

import java.util.concurrent.locks.ReentrantLock;

/**
 * Per-chunk locks, striped: chunk {@code c} is guarded by stripe {@code c % stripes}. A range is locked in ascending
 * stripe order (a range that wraps around the stripe array takes {@code 0..last} before {@code first..end}), and a
 * range of at least as many chunks as there are stripes takes them all, so that two ranges never deadlock. Whoever
 * holds one stripe must take no other except through {@link #lock} of a range that includes it, or
 * {@link #tryLock} (which never waits).
 */
public final class StripeLocks {
    private final ReentrantLock[] stripes;

    public StripeLocks(int count) {
        stripes = new ReentrantLock[count];
        for (int i = 0; i < count; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /** Locks chunks {@code c0..c1} (inclusive), waiting as long as it takes. */
    public void lock(long c0, long c1) {
        forEach(c0, c1, true);
    }

    public void unlock(long c0, long c1) {
        forEach(c0, c1, false);
    }

    /** Every chunk of a volume of {@code chunks} chunks (a whole-volume change: revert). */
    public void lockAll(long chunks) {
        lock(0, Math.max(0, chunks - 1));
    }

    public void unlockAll(long chunks) {
        unlock(0, Math.max(0, chunks - 1));
    }

    /** Takes chunk {@code c}'s stripe only if it is free now (a path that already holds other stripes). */
    public boolean tryLock(long c) {
        return stripes[(int) (c % stripes.length)].tryLock();
    }

    public void unlock(long c) {
        stripes[(int) (c % stripes.length)].unlock();
    }

    private void forEach(long c0, long c1, boolean lock) {
        int n = stripes.length;
        if (c1 - c0 + 1 >= n) {
            range(0, n - 1, lock);
            return;
        }
        int first = (int) (c0 % n);
        int last = (int) (c1 % n);
        if (first <= last) {
            range(first, last, lock);
        } else { // wrapped: ascending order is 0..last, then first..end
            range(0, last, lock);
            range(first, n - 1, lock);
        }
    }

    private void range(int from, int to, boolean lock) {
        for (int i = from; i <= to; i++) {
            if (lock) {
                stripes[i].lock();
            } else {
                stripes[i].unlock();
            }
        }
    }
}
