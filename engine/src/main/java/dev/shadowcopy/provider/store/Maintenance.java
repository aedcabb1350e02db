package dev.shadowcopy.provider.store;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The daemon threads that run checkpoints, shadow storage preparation, merges and periodic commits off the
 * I/O path. The timer thread only hands work to the pool.
 */
public final class Maintenance {
    public static final ExecutorService EXECUTOR = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "shadowcopy-maintenance");
        t.setDaemon(true);
        return t;
    });

    public static final java.util.concurrent.ScheduledExecutorService SCHEDULER =
            Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "shadowcopy-timer");
                t.setDaemon(true);
                return t;
            });

    private Maintenance() {}
}
