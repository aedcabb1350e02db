package dev.shadowcopy.attach.fuse;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Lets requests in until {@link #close}, then waits for those inside to finish. A request that arrives after
 * the close is neither processed nor answered: it stays in the kernel's list of requests being processed,
 * and the next run of the service has the kernel resend it. This is how the service stops without failing a
 * single I/O: everything is either answered by this run or resent to the next.
 *
 * <p>State is one word: the closed bit and the number of requests inside. Lock-free on the request path.
 */
final class RequestGate {
    private static final long CLOSED = 1L << 62;
    private final AtomicLong state = new AtomicLong();

    /** True if the request may be processed; the caller then calls {@link #exit} when it has answered. */
    boolean enter() {
        while (true) {
            long s = state.get();
            if ((s & CLOSED) != 0) {
                return false;
            }
            if (state.compareAndSet(s, s + 1)) {
                return true;
            }
        }
    }

    void exit() {
        long s = state.decrementAndGet();
        if (s == CLOSED) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }

    /** Closes the gate; returns true once no request is inside, false if some still are after {@code timeout}. */
    boolean close(Duration timeout) throws InterruptedException {
        long s;
        do {
            s = state.get();
        } while ((s & CLOSED) == 0 && !state.compareAndSet(s, s | CLOSED));
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (state.get() != CLOSED) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }

    /** Requests being processed now. */
    long inside() {
        return state.get() & ~CLOSED;
    }
}
