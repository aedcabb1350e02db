package dev.shadowcopy.provider.cow;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** The daemon threads that run checkpoints and shadow storage preparation off the I/O path. */
final class Maintenance {
    static final ExecutorService EXECUTOR = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "shadowcopy-maintenance");
        t.setDaemon(true);
        return t;
    });

    private Maintenance() {}
}
