package dev.shadowcopy.service.http;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * One client connection to the API. Close actions run once, when the connection ends for any reason (the
 * client closed it, its process died, the service stops): that is how sessions and writer registrations bound
 * to a connection end with their holder.
 *
 * <p>Thread-safety: close actions may be added from any thread; an action added after the close runs at once.
 */
public final class Connection implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Connection.class.getName());
    private final long id;
    private final SocketChannel channel;
    private final List<Runnable> onClose = new ArrayList<>();
    private boolean closed; // guarded by onClose

    Connection(long id, SocketChannel channel) {
        this.id = id;
        this.channel = channel;
    }

    public long id() {
        return id;
    }

    SocketChannel channel() {
        return channel;
    }

    /** Runs {@code action} when this connection ends (at once if it has ended). */
    public void onClose(Runnable action) {
        synchronized (onClose) {
            if (!closed) {
                onClose.add(action);
                return;
            }
        }
        action.run();
    }

    public boolean isOpen() {
        synchronized (onClose) {
            return !closed;
        }
    }

    @Override
    public void close() {
        List<Runnable> actions;
        synchronized (onClose) {
            if (closed) {
                return;
            }
            closed = true;
            actions = List.copyOf(onClose);
            onClose.clear();
        }
        try {
            channel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing API connection {0}: {1}", id, e.toString());
        }
        for (Runnable a : actions) {
            try {
                a.run();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "close action of API connection {0} failed: {1}", id, e.toString());
            }
        }
    }
}
