package dev.shadowcopy.nbd.server;

import dev.shadowcopy.nbd.export.ExportRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/**
 * The NBD server of a Shadowcopy service: listens on a Unix socket (always) and optionally on TCP (with TLS
 * through JSSE), negotiates each connection, then serves its requests.
 *
 * <p>Every connection runs on its own platform threads (the engine's I/O is native calls, which would pin a
 * virtual thread's carrier): a small team taking turns reading requests and serving them. A connection that does not finish negotiating within
 * {@code negotiationTimeout} is dropped. Closing the server stops accepting, answers new requests with
 * ESHUTDOWN, lets requests in flight finish, and closes every connection.
 */
public final class NbdServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(NbdServer.class.getName());

    /**
     * @param unixSocket          path of the Unix socket ({@code nbd.sock} in the state directory)
     * @param tcp                 address to listen on for TCP, or null (off: the default)
     * @param tls                 TLS mode on TCP
     * @param sslContext          server credentials when {@code tls} is not OFF
     * @param threadsPerConnection threads serving one connection (and so the requests it may have in
     *                            progress; further pipelined requests wait in the socket)
     * @param negotiationSeconds  time a client has to choose an export
     */
    public record Config(Path unixSocket, InetSocketAddress tcp, TlsMode tls, SSLContext sslContext,
                         int threadsPerConnection, int negotiationSeconds) {
        public Config {
            Objects.requireNonNull(unixSocket, "unixSocket");
            Objects.requireNonNull(tls, "tls");
            if (tls != TlsMode.OFF && sslContext == null) {
                throw new IllegalArgumentException("TLS mode " + tls + " needs server credentials");
            }
            if (tls != TlsMode.OFF && tcp == null) {
                throw new IllegalArgumentException("TLS applies to the TCP listener, which is off");
            }
            if (threadsPerConnection < 1 || negotiationSeconds < 1) {
                throw new IllegalArgumentException("threads per connection and negotiation time must be positive");
            }
        }

        /** Unix socket only, with default limits. */
        public static Config unix(Path socket) {
            return new Config(socket, null, TlsMode.OFF, null, 8, 60);
        }

        public Config withTcp(InetSocketAddress address, TlsMode mode, SSLContext context) {
            return new Config(unixSocket, address, mode, context, threadsPerConnection, negotiationSeconds);
        }
    }

    private final ExportRegistry registry;
    private final Config config;
    private final ServerSocketChannel unix;
    private final ServerSocketChannel tcp;
    private final BufferPool buffers = new BufferPool();
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "nbd-negotiation-timer");
        t.setDaemon(true);
        return t;
    });
    private final List<Thread> acceptors = new ArrayList<>();
    private volatile boolean closed;

    private NbdServer(ExportRegistry registry, Config config, ServerSocketChannel unix, ServerSocketChannel tcp) {
        this.registry = registry;
        this.config = config;
        this.unix = unix;
        this.tcp = tcp;
    }

    /** Binds the listeners and starts accepting. */
    public static NbdServer start(ExportRegistry registry, Config config) throws IOException {
        Files.deleteIfExists(config.unixSocket()); // a stale socket from a previous run
        ServerSocketChannel unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ServerSocketChannel tcp = null;
        try {
            unix.bind(UnixDomainSocketAddress.of(config.unixSocket()));
            Files.setPosixFilePermissions(config.unixSocket(), PosixFilePermissions.fromString("rw-rw----"));
            if (config.tcp() != null) {
                tcp = ServerSocketChannel.open();
                tcp.bind(config.tcp());
            }
        } catch (IOException | RuntimeException e) {
            unix.close();
            if (tcp != null) {
                tcp.close();
            }
            throw e;
        }
        NbdServer server = new NbdServer(registry, config, unix, tcp);
        server.accept(unix, false);
        if (tcp != null) {
            server.accept(tcp, true);
        }
        return server;
    }

    /** The TCP address actually bound (with the real port when 0 was asked), or null. */
    public InetSocketAddress tcpAddress() throws IOException {
        return tcp == null ? null : (InetSocketAddress) tcp.getLocalAddress();
    }

    public Path unixSocket() {
        return config.unixSocket();
    }

    /** Connections open now. */
    public int connectionCount() {
        return connections.size();
    }

    private void accept(ServerSocketChannel listener, boolean isTcp) {
        Thread t = new Thread(() -> {
            while (!closed) {
                try {
                    SocketChannel channel = listener.accept();
                    Connection c = new Connection(new ChannelTransport(channel, isTcp));
                    connections.add(c);
                    c.thread = new Thread(c, "nbd-connection");
                    c.thread.setDaemon(true);
                    c.thread.start();
                } catch (IOException e) {
                    if (!closed) {
                        LOG.log(System.Logger.Level.WARNING, "nbd: accept failed: {0}", e.toString());
                    }
                }
            }
        }, isTcp ? "nbd-accept-tcp" : "nbd-accept-unix");
        t.setDaemon(true);
        t.start();
        acceptors.add(t);
    }

    /** One client, from greeting to close. */
    private final class Connection implements Runnable {
        private final Transport transport;
        private volatile Transmission transmission;
        volatile Thread thread;

        Connection(Transport transport) {
            this.transport = transport;
        }

        @Override
        public void run() {
            ScheduledFuture<?> deadline = timer.schedule(this::abandon, config.negotiationSeconds(), TimeUnit.SECONDS);
            try {
                Negotiation.Outcome outcome = new Negotiation(transport, registry, config.tls(), config.sslContext())
                        .run();
                deadline.cancel(false);
                if (outcome == null || closed) {
                    if (outcome != null) {
                        outcome.export().close();
                    }
                    return;
                }
                transmission = new Transmission(outcome, buffers, config.threadsPerConnection());
                transmission.run();
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "nbd {0}: negotiation ended: {1}", transport.peer(), e.toString());
            } finally {
                deadline.cancel(false);
                close();
                connections.remove(this);
            }
        }

        private void abandon() {
            if (transmission == null) {
                LOG.log(System.Logger.Level.WARNING, "nbd {0}: no export chosen within {1} s, disconnecting",
                        transport.peer(), config.negotiationSeconds());
                close();
            }
        }

        void shutdown() {
            Transmission t = transmission;
            if (t != null) {
                t.shutdown();
                t.closeQuietly();
            } else {
                close();
            }
        }

        private void close() {
            try {
                transport.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "nbd close: {0}", e.toString());
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException first = null;
        for (ServerSocketChannel l : new ServerSocketChannel[] {unix, tcp}) {
            if (l != null) {
                try {
                    l.close();
                } catch (IOException e) {
                    first = e;
                }
            }
        }
        for (Connection c : connections) {
            c.shutdown();
        }
        for (Thread t : acceptors) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        for (Connection c : new ArrayList<>(connections)) {
            Thread t = c.thread;
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (t != null && left > 0) {
                try {
                    t.join(left); // sessions finish their requests in flight, then close
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        timer.shutdownNow();
        Files.deleteIfExists(config.unixSocket());
        if (first != null) {
            throw first;
        }
    }
}
