package dev.shadowcopy.provider.store;

import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps the page cache of a volume's backing file from holding much unwritten data, by starting writeback
 * (asynchronously) after every 16 MiB written (JVM property {@code shadowcopy.writeback-kick-mb}; 0 leaves
 * write-back to the kernel). The kernel only starts background
 * writeback at a share of RAM (10 % by default: gigabytes), and a shadow copy's instant ends with an
 * fdatasync of the backing file, whose duration is proportional to the dirty data. Bounding it bounds the
 * creation latency under write load. Nothing here is a durability step: it only moves work earlier.
 *
 * <p>The price: a workload that rewrites the same pages many times (a benchmark looping over a small file)
 * has each pass written to the disk, where a server that leaves everything to the kernel writes the last one
 * only. docs/benchmarks.md measures both settings.
 *
 * <p>Thread-safety: lock-free; one writeback request in flight at a time.
 */
public final class EagerWriteback {
    static final long KICK_BYTES = Math.max(0, Long.getLong("shadowcopy.writeback-kick-mb", 16)) << 20;
    private static final System.Logger LOG = System.getLogger(EagerWriteback.class.getName());

    private final StorageFile file;
    private final Executor executor; // null: do nothing (deterministic tests)
    private final AtomicLong sinceKick = new AtomicLong();
    private final AtomicBoolean running = new AtomicBoolean();

    public EagerWriteback(StorageFile file, Executor executor) {
        this.file = file;
        this.executor = executor;
    }

    /** Called after {@code bytes} were written to the file. */
    public void wrote(long bytes) {
        if (executor == null || KICK_BYTES == 0 || sinceKick.addAndGet(bytes) < KICK_BYTES
                || !running.compareAndSet(false, true)) {
            return;
        }
        sinceKick.set(0);
        executor.execute(() -> {
            try {
                file.startWriteback();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "writeback hint failed: {0}", e.getMessage());
            } finally {
                running.set(false);
            }
        });
    }
}
