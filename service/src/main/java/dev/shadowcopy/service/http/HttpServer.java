package dev.shadowcopy.service.http;

import dev.shadowcopy.platform.AcceptBackoff;
import dev.shadowcopy.service.peer.Caller;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import jdk.net.ExtendedSocketOptions;

/**
 * A small HTTP/1.1 server on a Unix domain socket: the API of the service. The JDK's HTTP server cannot
 * listen on a Unix socket, and the API needs nothing beyond fixed-length and chunked messages, so this is a
 * few hundred lines rather than a dependency (Jetty's Unix-socket connector was weighed: it brings six jars
 * and still needs our own peer check, per-user limits and connection-bound sessions; see docs/service.md).
 *
 * <p>Doors: the socket file is mode 0660, owned by the service's user and (optionally) a configured group.
 * Every accepted connection is then checked by a {@link Gate} with the peer credentials the kernel reports
 * ({@code SO_PEERCRED}), and counted against the {@link HttpLimits}: a connection beyond them gets a 403 or 503
 * answer and is closed at once. A watchdog closes connections past their idle, request or write deadline
 * ({@link Connection}). A failing {@code accept} (the descriptor limit) never ends the server: it backs off
 * and logs once per episode ({@link AcceptBackoff}).
 *
 * <p>Each connection is served by its own virtual thread (the API is not on the I/O path); requests on a
 * connection are answered in order (keep-alive). A malformed request gets a 4xx answer and the connection is
 * closed; the server goes on. Handlers can attach close actions to a {@link Connection}: a requester's session
 * or a writer's registration ends when the connection that holds it closes, which is how the death of the
 * process on the other end is noticed.
 *
 * <p>Locking: {@code admitted} guards the per-user and total counts; it is never held while doing I/O.
 */
public final class HttpServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(HttpServer.class.getName());
    public static final int MAX_BODY = 8 << 20;
    private static final long WATCH_INTERVAL_MS = 200;

    /** Answers one request; may throw {@link HttpException} for a plain error answer. */
    public interface Handler {
        void handle(Exchange exchange) throws Exception;
    }

    /** Maps an unexpected exception to a response body (status, JSON) for the client. */
    public interface ErrorMapper {
        Exchange.Answer map(Throwable error);
    }

    /** Counters since start, for {@code GET /v1/status}. */
    public record Stats(int open, long accepted, long refusedBusy, long refusedAccess, long timedOut,
                        long acceptFailures) {}

    private final ServerSocketChannel channel;
    private final Path socket;
    private final Handler handler;
    private final ErrorMapper errors;
    private final Gate gate;
    private final HttpLimits limits;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final Map<String, Integer> perUser = new HashMap<>(); // guarded by admitted
    private final Object admitted = new Object();
    private int total; // guarded by admitted
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong refusedBusy = new AtomicLong();
    private final AtomicLong refusedAccess = new AtomicLong();
    private final AtomicLong timedOut = new AtomicLong();
    private final AtomicLong acceptFailures = new AtomicLong();
    private final Thread acceptor;
    private final Thread watchdog;
    private volatile boolean closed;

    private HttpServer(ServerSocketChannel channel, Path socket, Handler handler, ErrorMapper errors, Gate gate,
                       HttpLimits limits) {
        this.channel = channel;
        this.socket = socket;
        this.handler = handler;
        this.errors = errors;
        this.gate = gate;
        this.limits = limits;
        this.acceptor = Thread.ofPlatform().daemon().name("api-accept").unstarted(this::acceptLoop);
        this.watchdog = Thread.ofPlatform().daemon().name("api-watchdog").unstarted(this::watch);
    }

    /**
     * Listens on {@code socket} (a stale socket file is replaced) with mode 0660 and, if {@code group} is not
     * null, that group; admits connections through {@code gate} within {@code limits}.
     */
    public static HttpServer start(Path socket, GroupPrincipal group, Gate gate, HttpLimits limits, Handler handler,
                                   ErrorMapper errors) throws IOException {
        Files.deleteIfExists(socket);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.bind(UnixDomainSocketAddress.of(socket), 128);
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
            if (group != null) {
                Files.getFileAttributeView(socket, PosixFileAttributeView.class).setGroup(group);
            }
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        HttpServer server = new HttpServer(ch, socket, handler, errors, gate, limits);
        server.acceptor.start();
        server.watchdog.start();
        return server;
    }

    public Path socket() {
        return socket;
    }

    public HttpLimits limits() {
        return limits;
    }

    private void acceptLoop() {
        AcceptBackoff backoff = new AcceptBackoff(LOG, "API socket " + socket);
        while (!closed) {
            SocketChannel client;
            try {
                client = channel.accept();
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
            try {
                admit(client);
            } catch (IOException | RuntimeException e) {
                // one connection's trouble (it vanished, no thread could start) never ends the loop
                LOG.log(System.Logger.Level.DEBUG, "API connection refused while admitting: {0}", e.toString());
                closeQuietly(client);
            }
        }
    }

    /** Checks the peer and the limits; serves the connection or answers why not and closes it. */
    private void admit(SocketChannel client) throws IOException {
        Caller caller;
        try {
            caller = gate.admit(client.getOption(ExtendedSocketOptions.SO_PEERCRED));
        } catch (HttpException e) {
            refusedAccess.incrementAndGet();
            refuse(client, e.status(), "E_ACCESSDENIED", e.getMessage(), false);
            return;
        }
        String busy = reserve(caller);
        if (busy != null) {
            refusedBusy.incrementAndGet();
            refuse(client, 503, "TOO_MANY_CONNECTIONS", busy, true);
            return;
        }
        Connection c = new Connection(ids.incrementAndGet(), client, caller, this::stats);
        connections.add(c);
        try {
            Thread.ofVirtual().name("api-conn-" + c.id()).start(() -> serve(c));
        } catch (RuntimeException | Error e) {
            connections.remove(c);
            release(caller);
            c.close();
            throw e;
        }
    }

    /** Counts a new connection of {@code caller}; returns why it is refused, or null. */
    private String reserve(Caller caller) {
        synchronized (admitted) {
            int mine = perUser.getOrDefault(caller.user(), 0);
            if (!caller.isAdmin() && mine >= limits.maxConnectionsPerUser()) {
                return "user " + caller.user() + " has " + mine + " API connections open (limit "
                        + limits.maxConnectionsPerUser() + " per user); close some, or ask the administrator to raise "
                        + "--api-max-connections-per-user";
            }
            int cap = limits.maxConnections() + (caller.isAdmin() ? HttpLimits.ADMIN_RESERVE : 0);
            if (total >= cap) {
                return "the service has " + total + " API connections open (limit " + limits.maxConnections()
                        + "); try again later, or ask the administrator to raise --api-max-connections";
            }
            perUser.put(caller.user(), mine + 1);
            total++;
            return null;
        }
    }

    private void release(Caller caller) {
        synchronized (admitted) {
            perUser.computeIfPresent(caller.user(), (u, n) -> n <= 1 ? null : n - 1);
            total--;
        }
    }

    /** Answers a connection that is not admitted. The answer is small and the socket new: the write never blocks. */
    private static void refuse(SocketChannel client, int status, String code, String message, boolean retryable) {
        try (client) {
            client.write(ByteBuffer.wrap(responseBytes(status, errorJson(code, message, retryable))));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "refusing an API connection: {0}", e.toString());
        }
    }

    private static byte[] responseBytes(int status, byte[] body) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        HttpWriter.response(b, status, "application/json", body, true);
        return b.toByteArray();
    }

    /** Closes connections past a deadline, a few times a second. */
    private void watch() {
        while (!closed) {
            try {
                Thread.sleep(WATCH_INTERVAL_MS); // the granularity of the API timeouts
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (Connection c : connections) {
                String why = c.expired(now, limits);
                if (why != null) {
                    timedOut.incrementAndGet();
                    c.cutOff(why);
                }
            }
        }
    }

    private void serve(Connection c) {
        try (c) {
            InputStream in = new BufferedInputStream(WatchedStreams.input(Channels.newInputStream(c.channel()), c,
                    limits.requestTimeout()), 16 * 1024);
            OutputStream out = new BufferedOutputStream(WatchedStreams.output(Channels.newOutputStream(c.channel()), c,
                    limits.writeTimeout()), 16 * 1024);
            HttpReader reader = new HttpReader(in);
            while (!closed) {
                c.idle(limits.idleTimeout());
                HttpRequest request;
                try {
                    request = reader.readRequest(MAX_BODY);
                } catch (HttpException e) {
                    HttpWriter.response(out, e.status(), "application/json", errorJson(e.getMessage()), true);
                    return;
                }
                if (request == null) {
                    return;
                }
                c.handling();
                Exchange ex = new Exchange(request, c, out);
                try {
                    handler.handle(ex);
                } catch (HttpException e) {
                    if (!ex.answered()) {
                        ex.respond(e.status(), errorJson(e.getMessage()));
                    }
                } catch (Exception | Error e) {
                    if (!ex.answered()) {
                        Exchange.Answer a = errors.map(e);
                        ex.respond(a.status(), a.body());
                    } else {
                        LOG.log(System.Logger.Level.WARNING, "API {0} {1} failed after answering: {2}",
                                request.method(), request.path(), e.toString());
                    }
                }
                if (!ex.answered()) {
                    ex.respond(500, errorJson("the service did not answer " + request.method() + " " + request.path()));
                }
                if (!request.keepAlive() || ex.streamed()) {
                    return;
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "API connection {0} ended: {1}", c.id(),
                    c.closeReason() != null ? c.closeReason() : e.toString());
        } finally {
            connections.remove(c);
            release(c.caller());
        }
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing a refused API connection: {0}", e.toString());
        }
    }

    static byte[] errorJson(String message) {
        return errorJson("BAD_REQUEST", message, false);
    }

    static byte[] errorJson(String code, String message, boolean retryable) {
        String escaped = message.replace("\\", "\\\\").replace("\"", "\\\"").replaceAll("[\\x00-\\x1f]", " ");
        return ("{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + escaped + "\",\"retryable\":" + retryable
                + "}}").getBytes(StandardCharsets.UTF_8);
    }

    public int connectionCount() {
        return connections.size();
    }

    public Stats stats() {
        return new Stats(connections.size(), ids.get(), refusedBusy.get(), refusedAccess.get(), timedOut.get(),
                acceptFailures.get());
    }

    @Override
    public void close() throws IOException {
        closed = true;
        channel.close();
        for (Connection c : connections) {
            c.close();
        }
        watchdog.interrupt();
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Files.deleteIfExists(socket);
    }
}
