package dev.shadowcopy.nbd.server;

import dev.shadowcopy.nbd.export.ExportRegistry;
import dev.shadowcopy.platform.AcceptBackoff;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import jdk.net.UnixDomainPrincipal;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import jdk.net.ExtendedSocketOptions;

/**
 * The NBD server of a Shadowcopy service: listens on a Unix socket (always) and optionally on TCP (with TLS
 * through JSSE), negotiates each connection, then serves its requests.
 *
 * <p>Every connection runs on its own platform threads (the engine's I/O is native calls, which would pin a
 * virtual thread's carrier): a small team taking turns reading requests and serving them.
 *
 * <p>Doors: a Unix-socket peer is identified by its kernel credentials and given what {@link PeerAccess}
 * grants (a refused peer is told why with NBD_REP_ERR_POLICY); the TCP listener can require TLS with client
 * certificates. Connections beyond {@code maxConnections} (all together) or {@code maxConnectionsPerUser}
 * (one Unix peer user, administrators excepted) are closed at once, before the greeting; a connection that does
 * not finish negotiating (TLS handshake included) within {@code negotiationSeconds} is dropped. A failing
 * {@code accept} (the descriptor limit) backs off and is logged once per episode ({@link AcceptBackoff}).
 * Once in transmission a connection has no idle timeout: block-device clients keep idle connections by design.
 *
 * <p>Closing the server stops accepting, answers new requests with ESHUTDOWN, lets requests in flight finish,
 * and closes every connection. Locking: {@code counts} guards the connection counts; no I/O under it.
 */
public final class NbdServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(NbdServer.class.getName());

    /** Connections an administrator (an unlimited peer) may open beyond {@code maxConnections}. */
    public static final int ADMIN_RESERVE = 32;

    /**
     * @param unixSocket          path of the Unix socket ({@code nbd.sock} in the state directory)
     * @param tcp                 address to listen on for TCP, or null (off: the default)
     * @param tls                 TLS mode on TCP
     * @param sslContext          server credentials when {@code tls} is not OFF
     * @param verifyClients       TLS clients must present a certificate the context's trust store accepts
     * @param threadsPerConnection threads serving one connection (and so the requests it may have in
     *                            progress; further pipelined requests wait in the socket)
     * @param negotiationSeconds  time a client has to choose an export, TLS handshake included
     * @param maxConnections      connections open at once, both listeners together
     * @param maxConnectionsPerUser connections one Unix peer user may hold (unlimited peers excepted)
     * @param access              who may use the Unix socket, and what they see
     */
    public record Config(Path unixSocket, InetSocketAddress tcp, TlsMode tls, SSLContext sslContext,
                         boolean verifyClients, int threadsPerConnection, int negotiationSeconds, int maxConnections,
                         int maxConnectionsPerUser, PeerAccess access) {
        public Config {
            Objects.requireNonNull(unixSocket, "unixSocket");
            Objects.requireNonNull(tls, "tls");
            Objects.requireNonNull(access, "access");
            if (maxConnections < 1 || maxConnectionsPerUser < 1) {
                throw new IllegalArgumentException("NBD connection limits must be at least 1 (were " + maxConnections
                        + " and " + maxConnectionsPerUser + ")");
            }
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

        /** Unix socket only, with default limits; whoever may open the socket file sees every export. */
        public static Config unix(Path socket) {
            return new Config(socket, null, TlsMode.OFF, null, false, 8, 10, 128, 32, PeerAccess.FILE_PERMISSIONS);
        }

        /** Also TCP, with server-only TLS (or none). */
        public Config withTcp(InetSocketAddress address, TlsMode mode, SSLContext context) {
            return withTcp(address, mode, context, false);
        }

        /** Also TCP; with {@code verifyClients}, TLS clients must present a certificate the context trusts. */
        public Config withTcp(InetSocketAddress address, TlsMode mode, SSLContext context, boolean verifyClients) {
            return new Config(unixSocket, address, mode, context, verifyClients, threadsPerConnection,
                    negotiationSeconds, maxConnections, maxConnectionsPerUser, access);
        }

        public Config withLimits(int maxConnections, int maxConnectionsPerUser, int negotiationSeconds) {
            return new Config(unixSocket, tcp, tls, sslContext, verifyClients, threadsPerConnection, negotiationSeconds,
                    maxConnections, maxConnectionsPerUser, access);
        }

        public Config withAccess(PeerAccess access) {
            return new Config(unixSocket, tcp, tls, sslContext, verifyClients, threadsPerConnection, negotiationSeconds,
                    maxConnections, maxConnectionsPerUser, access);
        }
    }

    /** Counters since start. */
    public record Stats(int open, long accepted, long refusedBusy, long refusedAccess, long acceptFailures) {}

    private final ExportRegistry registry;
    private final Config config;
    private final ServerSocketChannel unix;
    private final ServerSocketChannel tcp;
    private final BufferPool buffers = new BufferPool();
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final Object counts = new Object();
    private final Map<String, Integer> perUser = new HashMap<>(); // guarded by counts
    private int total; // guarded by counts
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong refusedBusy = new AtomicLong();
    private final AtomicLong refusedAccess = new AtomicLong();
    private final AtomicLong acceptFailures = new AtomicLong();
    private volatile long lastBusyLog;
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

    public Stats stats() {
        return new Stats(connections.size(), accepted.get(), refusedBusy.get(), refusedAccess.get(),
                acceptFailures.get());
    }

    private void accept(ServerSocketChannel listener, boolean isTcp) {
        String name = isTcp ? "NBD TCP listener " + config.tcp() : "NBD socket " + config.unixSocket();
        Thread t = new Thread(() -> {
            AcceptBackoff backoff = new AcceptBackoff(LOG, name);
            while (!closed) {
                SocketChannel channel;
                try {
                    channel = listener.accept();
                } catch (IOException e) {
                    if (closed) {
                        return;
                    }
                    acceptFailures.incrementAndGet();
                    try {
                        backoff.failed(e);
                    } catch (InterruptedException ie) {
                        return;
                    }
                    continue;
                }
                backoff.succeeded();
                accepted.incrementAndGet();
                try {
                    admit(channel, isTcp);
                } catch (IOException | RuntimeException | Error e) {
                    // one connection's trouble (it vanished, no thread could start) never ends the loop
                    LOG.log(System.Logger.Level.DEBUG, "nbd: connection dropped while admitting it: {0}", e.toString());
                    closeQuietly(channel);
                }
            }
        }, isTcp ? "nbd-accept-tcp" : "nbd-accept-unix");
        t.setDaemon(true);
        t.start();
        acceptors.add(t);
    }

    /** Identifies the peer, counts it against the limits, and starts serving it. */
    private void admit(SocketChannel channel, boolean isTcp) throws IOException {
        ExportRegistry exports = registry;
        String user = "tcp";
        boolean unlimited = false;
        String refusal = null;
        if (!isTcp) {
            UnixDomainPrincipal peer = channel.getOption(ExtendedSocketOptions.SO_PEERCRED);
            try {
                PeerAccess.Grant g = config.access().admit(peer, registry);
                exports = g.exports();
                user = g.user();
                unlimited = g.unlimited();
            } catch (PeerAccess.Denied d) {
                refusedAccess.incrementAndGet();
                refusal = d.getMessage();
                user = peer.user().getName();
            }
        }
        String key = isTcp ? "tcp" : "unix:" + user;
        if (!reserve(key, unlimited || isTcp)) {
            refusedBusy.incrementAndGet();
            logBusy(user);
            closeQuietly(channel);
            return;
        }
        Connection c = new Connection(new ChannelTransport(channel, isTcp), exports, refusal, key);
        connections.add(c);
        try {
            c.thread = new Thread(c, "nbd-connection");
            c.thread.setDaemon(true);
            c.thread.start();
        } catch (RuntimeException | Error e) {
            connections.remove(c);
            release(key);
            throw e;
        }
    }

    private boolean reserve(String key, boolean unlimited) {
        synchronized (counts) {
            int mine = perUser.getOrDefault(key, 0);
            if (!unlimited && mine >= config.maxConnectionsPerUser()) {
                return false;
            }
            if (total >= config.maxConnections() + (unlimited && !key.equals("tcp") ? ADMIN_RESERVE : 0)) {
                return false;
            }
            perUser.put(key, mine + 1);
            total++;
            return true;
        }
    }

    private void release(String key) {
        synchronized (counts) {
            perUser.computeIfPresent(key, (k, n) -> n <= 1 ? null : n - 1);
            total--;
        }
    }

    /** A flood is logged once a minute with its count, not once per connection. */
    private void logBusy(String user) {
        long now = System.nanoTime();
        if (now - lastBusyLog > TimeUnit.MINUTES.toNanos(1) || lastBusyLog == 0) {
            lastBusyLog = now;
            LOG.log(System.Logger.Level.WARNING, "nbd: connection of {0} closed at once: over the limit of {1} "
                    + "connections ({2} per user); {3} refused since start (logged at most once a minute)", user,
                    config.maxConnections(), config.maxConnectionsPerUser(), refusedBusy.get());
        }
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "nbd close: {0}", e.toString());
        }
    }

    /** One client, from greeting to close. */
    private final class Connection implements Runnable {
        private final Transport transport;
        private final ExportRegistry exports;
        private final String refusal;
        private final String key;
        private volatile Transmission transmission;
        volatile Thread thread;

        Connection(Transport transport, ExportRegistry exports, String refusal, String key) {
            this.transport = transport;
            this.exports = exports;
            this.refusal = refusal;
            this.key = key;
        }

        @Override
        public void run() {
            ScheduledFuture<?> deadline = timer.schedule(this::abandon, config.negotiationSeconds(), TimeUnit.SECONDS);
            try {
                Negotiation.Outcome outcome = new Negotiation(transport, exports, config.tls(), config.sslContext(),
                        config.verifyClients(), refusal).run();
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
                release(key);
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
