package dev.shadowcopy.service;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.api.Api;
import dev.shadowcopy.service.http.HttpServer;
import dev.shadowcopy.service.ops.PreviousVersions;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;

/**
 * {@code shadowcopy daemon}: the service and its API socket in the foreground until SIGTERM/SIGINT, then an
 * orderly stop: sessions released, I/O of attached volumes paused (their devices and exposures stay, and the
 * next start takes them over), volumes closed.
 */
public final class Daemon implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Daemon.class.getName());
    private final Service service;
    private final HttpServer api;
    private final PreviousVersions previous;

    private Daemon(Service service, HttpServer api, PreviousVersions previous) {
        this.service = service;
        this.api = api;
        this.previous = previous;
    }

    public static Daemon start(DaemonConfig config) throws IOException {
        Service service = Service.start(config);
        PreviousVersions previous = null;
        try {
            ApiAccess access = new ApiAccess(service.accessConfig(), config.state().toRealPath());
            previous = service.startPreviousVersions();
            HttpServer api = HttpServer.start(config.apiSocket(), service.peers().group(), service.peers(),
                    config.doors().api(), new Api(new Api.Roles(service.volumes(), service.shadows(),
                    service.sessions(), service.writers(), service.backups(), service.status(), service.catalog(),
                    service.events(), previous), access), t -> {
                if (!(t instanceof ServiceException) && !(t instanceof dev.shadowcopy.device.VolumeException)) {
                    LOG.log(System.Logger.Level.ERROR, "API request failed unexpectedly", t);
                }
                return Api.error(t);
            });
            return new Daemon(service, api, previous);
        } catch (IOException | RuntimeException e) {
            if (previous != null) {
                previous.close();
            }
            service.close();
            throw e;
        }
    }

    public Service service() {
        return service;
    }

    /** Runs until the process is told to stop. */
    public void runUntilStopped() throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("shutdown").unstarted(() -> {
            stopped.countDown();
            try {
                closed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        System.err.println("shadowcopy daemon: serving " + service.config().apiSocket() + " (NBD on "
                + service.config().nbdSocket() + ")");
        dev.shadowcopy.attach.keep.Notify.send("READY=1\nSTATUS=serving " + service.config().apiSocket());
        stopped.await();
        dev.shadowcopy.attach.keep.Notify.send("STOPPING=1");
        try {
            close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, "stopping the service: {0}", e.toString());
        } finally {
            closed.countDown();
        }
    }

    @Override
    public void close() throws IOException {
        try {
            api.close();
            previous.close(); // after the API (no new runs), before the service (a run in progress finishes)
        } finally {
            service.close();
        }
    }
}
