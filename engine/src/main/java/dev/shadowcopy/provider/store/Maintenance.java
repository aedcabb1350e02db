package dev.shadowcopy.provider.store;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** The daemon threads that run checkpoints and shadow storage preparation off the I/O path. */
public final class Maintenance {
    public static final ExecutorService EXECUTOR = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "shadowcopy-maintenance");
        t.setDaemon(true);
        return t;
    });

    private Maintenance() {}
}
