package dev.shadowcopy.service.http;

import dev.shadowcopy.service.peer.Caller;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * One client connection to the API. Close actions run once, when the connection ends for any reason (the
 * client closed it, its process died, a limit cut it off, the service stops): that is how sessions and writer
 * registrations bound to a connection end with their holder.
 *
 * <p>States ({@link Phase}), each with its deadline, which the server's watchdog enforces by closing the
 * connection: {@code IDLE} (waiting for the first byte of a request: the idle timeout, none while a session or
 * writer is bound) → {@code READING} (the rest of the request: the request timeout) → {@code HANDLING} (the
 * service works: no deadline) → {@code IDLE}. Independently, every write of an answer has the write timeout.
 *
 * <p>Thread-safety: close actions may be added from any thread; an action added after the close runs at once.
 * Phase and deadlines are written by the connection's thread and read by the watchdog.
 */
public final class Connection implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Connection.class.getName());
    private static final long NONE = Long.MAX_VALUE;

    /** What the connection waits for. */
    enum Phase { IDLE, READING, HANDLING }

    private final long id;
    private final SocketChannel channel;
    private final Caller caller;
    private final Supplier<HttpServer.Stats> stats;
    private final List<Runnable> onClose = new ArrayList<>();
    private boolean closed; // guarded by onClose
    private volatile Phase phase = Phase.IDLE;
    private volatile long readDeadline = NONE; // System.nanoTime() values
    private volatile long writeDeadline = NONE;
    private volatile String closeReason;

    Connection(long id, SocketChannel channel, Caller caller, Supplier<HttpServer.Stats> stats) {
        this.id = id;
        this.channel = channel;
        this.caller = caller;
        this.stats = stats;
    }

    public long id() {
        return id;
    }

    /** Who connected, as the kernel said when the connection was accepted. */
    public Caller caller() {
        return caller;
    }

    /** The counters of the server this connection belongs to. */
    public HttpServer.Stats serverStats() {
        return stats.get();
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

    private boolean holdsBindings() {
        synchronized (onClose) {
            return !onClose.isEmpty();
        }
    }

    // ------------------------------------------------------------------ phases and deadlines

    /** Between requests: the idle timeout runs unless something is bound to this connection. */
    void idle(Duration idleTimeout) {
        phase = Phase.IDLE;
        readDeadline = holdsBindings() ? NONE : System.nanoTime() + idleTimeout.toNanos();
    }

    /** Bytes of a request arrived: from the first, the whole request has {@code requestTimeout}. */
    void received(Duration requestTimeout) {
        if (phase == Phase.IDLE) {
            phase = Phase.READING;
            readDeadline = System.nanoTime() + requestTimeout.toNanos();
        }
    }

    /** The request is complete; the service works on it for as long as it takes. */
    void handling() {
        phase = Phase.HANDLING;
        readDeadline = NONE;
    }

    void writing(Duration writeTimeout) {
        writeDeadline = System.nanoTime() + writeTimeout.toNanos();
    }

    void written() {
        writeDeadline = NONE;
    }

    /** Why this connection is past a deadline at {@code now}, or null if it is not. */
    String expired(long now, HttpLimits limits) {
        if (now - writeDeadline > 0) {
            return "the client took no part of the answer for " + limits.writeTimeout().toSeconds() + " s";
        }
        if (now - readDeadline > 0) {
            return phase == Phase.READING
                    ? "the request did not arrive whole within " + limits.requestTimeout().toSeconds() + " s"
                    : "idle for " + limits.idleTimeout().toSeconds() + " s";
        }
        return null;
    }

    /** Closes the connection because a limit ran out; the thread serving it sees its channel closed. */
    void cutOff(String reason) {
        closeReason = reason;
        LOG.log(System.Logger.Level.DEBUG, "API connection {0} of {1} closed: {2}", id, caller, reason);
        close();
    }

    /** Why the server closed this connection, or null if it did not. */
    String closeReason() {
        return closeReason;
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
