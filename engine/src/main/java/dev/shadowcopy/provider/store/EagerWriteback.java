package dev.shadowcopy.provider.store;

import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps the page cache of a volume's backing file from holding more than a bound of unwritten data (256 MiB
 * by default; JVM property {@code shadowcopy.writeback-dirty-mb}, 0 leaves write-back to the kernel). The
 * kernel only starts background write-back at a share of RAM (10 % by default: gigabytes), and a shadow
 * copy's creation flushes the backing file before and after the hold; bounding the dirty data bounds that
 * flush (about a quarter of a second at the bound on a 1 GB/s disk). Nothing here is a durability step: it
 * only moves work earlier.
 *
 * <p>How the bound is kept cheaply: bytes written since the last flush of the volume are counted (an upper
 * bound of what is dirty: a flush leaves nothing dirty that was written before it); only when the count passes
 * the bound is the kernel asked how much is really dirty (cachestat(2)), and write-back is started only if
 * that passes the bound too. A workload that rewrites the same pages (a database's hot pages, a benchmark
 * looping over a small file) therefore keeps them in the cache as any file would, where the earlier policy —
 * write-back after every 16 MiB written — wrote every pass to the disk. Where cachestat is missing (Linux <
 * 6.5) the count alone decides.
 *
 * <p>Thread-safety: lock-free; one check or write-back request in flight at a time. Counts are approximate
 * under races (a hint, never a guarantee).
 */
public final class EagerWriteback {
    static final long BOUND = Math.max(0, Long.getLong("shadowcopy.writeback-dirty-mb", 256)) << 20;
    private static final System.Logger LOG = System.getLogger(EagerWriteback.class.getName());

    private final StorageFile file;
    private final Executor executor; // null: do nothing (deterministic tests)
    private final AtomicLong sinceFlush = new AtomicLong();
    private final AtomicBoolean running = new AtomicBoolean();

    public EagerWriteback(StorageFile file, Executor executor) {
        this.file = file;
        this.executor = executor;
    }

    /** Called after {@code bytes} were written to the file. */
    public void wrote(long bytes) {
        if (executor == null || BOUND == 0 || sinceFlush.addAndGet(bytes) < BOUND
                || !running.compareAndSet(false, true)) {
            return;
        }
        executor.execute(() -> {
            try {
                long dirty = file.dirtyBytes();
                if (dirty < 0 || dirty >= BOUND) {
                    file.startWriteback();
                    sinceFlush.set(0);
                } else {
                    sinceFlush.set(dirty); // the rest were rewrites of pages already counted
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "writeback hint failed: {0}", e.getMessage());
            } finally {
                running.set(false);
            }
        });
    }

    /** Called after the file was synced: nothing written before the sync is dirty any more. */
    public void flushed() {
        sinceFlush.set(0);
    }
}
