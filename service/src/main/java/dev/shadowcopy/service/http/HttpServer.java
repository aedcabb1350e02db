package dev.shadowcopy.service.http;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small HTTP/1.1 server on a Unix domain socket: the API of the service. The JDK's HTTP server cannot
 * listen on a Unix socket, and the API needs nothing beyond fixed-length and chunked messages, so this is a
 * few hundred lines rather than a dependency.
 *
 * <p>Access control is the socket file's: mode 0660, owned by the service's user and (optionally) a configured
 * group; the directory it lives in must not be more open than that. Each connection is served by its own
 * virtual thread (the API is not on the I/O path); requests on a connection are answered in order
 * (keep-alive). A malformed request gets a 4xx answer and the connection is closed; the server goes on.
 *
 * <p>Each connection is a {@link Connection} that handlers can attach close actions to: a requester's session
 * or a writer's registration ends when the connection that holds it closes, which is how the death of the
 * process on the other end is noticed.
 */
public final class HttpServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(HttpServer.class.getName());
    public static final int MAX_BODY = 8 << 20;

    /** Answers one request; may throw {@link HttpException} for a plain error answer. */
    public interface Handler {
        void handle(Exchange exchange) throws Exception;
    }

    /** Maps an unexpected exception to a response body (status, JSON) for the client. */
    public interface ErrorMapper {
        Exchange.Answer map(Throwable error);
    }

    private final ServerSocketChannel channel;
    private final Path socket;
    private final Handler handler;
    private final ErrorMapper errors;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong ids = new AtomicLong();
    private final Thread acceptor;
    private volatile boolean closed;

    private HttpServer(ServerSocketChannel channel, Path socket, Handler handler, ErrorMapper errors) {
        this.channel = channel;
        this.socket = socket;
        this.handler = handler;
        this.errors = errors;
        this.acceptor = Thread.ofPlatform().daemon().name("api-accept").unstarted(this::acceptLoop);
    }

    /**
     * Listens on {@code socket} (a stale socket file is replaced) with mode 0660 and, if {@code group} is not
     * null, that group.
     */
    public static HttpServer start(Path socket, GroupPrincipal group, Handler handler, ErrorMapper errors)
            throws IOException {
        Files.deleteIfExists(socket);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.bind(UnixDomainSocketAddress.of(socket), 64);
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
            if (group != null) {
                Files.getFileAttributeView(socket, PosixFileAttributeView.class).setGroup(group);
            }
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        HttpServer server = new HttpServer(ch, socket, handler, errors);
        server.acceptor.start();
        return server;
    }

    public Path socket() {
        return socket;
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel client;
            try {
                client = channel.accept();
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.ERROR, "API socket accept failed: {0}", e.toString());
                }
                return;
            }
            Connection c = new Connection(ids.incrementAndGet(), client);
            connections.add(c);
            Thread.ofVirtual().name("api-conn-" + c.id()).start(() -> serve(c));
        }
    }

    private void serve(Connection c) {
        try (c) {
            InputStream in = new BufferedInputStream(Channels.newInputStream(c.channel()), 16 * 1024);
            OutputStream out = new BufferedOutputStream(Channels.newOutputStream(c.channel()), 16 * 1024);
            HttpReader reader = new HttpReader(in);
            while (!closed) {
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
            LOG.log(System.Logger.Level.DEBUG, "API connection {0} ended: {1}", c.id(), e.toString());
        } finally {
            connections.remove(c);
        }
    }

    static byte[] errorJson(String message) {
        String escaped = message.replace("\\", "\\\\").replace("\"", "\\\"").replaceAll("[\\x00-\\x1f]", " ");
        return ("{\"error\":{\"code\":\"BAD_REQUEST\",\"message\":\"" + escaped + "\"}}").getBytes(StandardCharsets.UTF_8);
    }

    public int connectionCount() {
        return connections.size();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        channel.close();
        for (Connection c : connections) {
            c.close();
        }
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Files.deleteIfExists(socket);
    }
}
