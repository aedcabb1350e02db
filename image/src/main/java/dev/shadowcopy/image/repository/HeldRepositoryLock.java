package dev.shadowcopy.image.repository;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;

/**
 * A {@link RepositoryLock} held for a long time and let go by whichever thread ends the work (a served backup point
 * stopped by a shutdown hook, a live restore finished by its copy thread). The lock's in-process part is a read-write
 * lock owned by the thread that took it, so a thread of its own takes it, holds it, and lets it go when
 * {@link #close} says so.
 */
public final class HeldRepositoryLock implements AutoCloseable {
    private final CountDownLatch release = new CountDownLatch(1);
    private final Thread holder;

    private HeldRepositoryLock(Repository repo, RepositoryLock.Mode mode, Duration wait, String purpose,
                               CompletableFuture<Void> acquired) {
        this.holder = Thread.ofPlatform().daemon().name("repository-lock").start(() -> {
            try (RepositoryLock l = repo.lock(mode, wait, purpose)) {
                acquired.complete(null);
                boolean released = false;
                while (!released) {
                    try {
                        release.await();
                        released = true;
                    } catch (InterruptedException e) {
                        // only close() ends the hold
                    }
                }
            } catch (IOException | RuntimeException e) {
                acquired.completeExceptionally(e);
            }
        });
    }

    /** Takes the lock (waiting at most {@code wait}) and holds it until {@link #close}, whatever thread calls that. */
    public static HeldRepositoryLock acquire(Repository repo, RepositoryLock.Mode mode, Duration wait, String purpose)
            throws IOException {
        CompletableFuture<Void> acquired = new CompletableFuture<>();
        HeldRepositoryLock h = new HeldRepositoryLock(repo, mode, wait, purpose, acquired);
        try {
            acquired.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("the repository lock: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            h.close();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the repository lock");
        }
        return h;
    }

    /** Lets the lock go (from any thread); idempotent. */
    @Override
    public void close() {
        release.countDown();
        if (Thread.currentThread() != holder) {
            try {
                holder.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
