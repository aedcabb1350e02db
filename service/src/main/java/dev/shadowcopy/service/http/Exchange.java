package dev.shadowcopy.service.http;

import java.io.IOException;
import java.io.OutputStream;

/**
 * A request and the means to answer it, once: a fixed response ({@link #respond}) or a stream of chunks
 * ({@link #stream}) that ends the connection when done.
 */
public final class Exchange {
    /** A status and JSON body. */
    public record Answer(int status, byte[] body) {}

    private final HttpRequest request;
    private final Connection connection;
    private final OutputStream out;
    private boolean answered;
    private boolean streamed;

    Exchange(HttpRequest request, Connection connection, OutputStream out) {
        this.request = request;
        this.connection = connection;
        this.out = out;
    }

    public HttpRequest request() {
        return request;
    }

    public Connection connection() {
        return connection;
    }

    public void respond(int status, byte[] json) throws IOException {
        if (answered) {
            throw new IllegalStateException("answered twice: " + request.method() + " " + request.path());
        }
        answered = true;
        HttpWriter.response(out, status, "application/json", json, !request.keepAlive());
    }

    /**
     * Starts a chunked answer (newline-delimited JSON); the connection closes after it. {@code onPeerClosed}
     * runs as soon as the client closes its end or its process dies (a watcher reads the socket until EOF), so
     * a streaming client that vanishes is noticed at once rather than at the next write.
     */
    public ChunkStream stream(int status, Runnable onPeerClosed) throws IOException {
        if (answered) {
            throw new IllegalStateException("answered twice: " + request.method() + " " + request.path());
        }
        answered = true;
        streamed = true;
        HttpWriter.chunkedHead(out, status, "application/x-ndjson");
        out.flush();
        Thread.ofVirtual().name("api-peer-watch-" + connection.id()).start(() -> {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(512);
            try {
                while (connection.channel().read(b) >= 0) {
                    b.clear();
                }
            } catch (IOException e) {
                // closed under us or reset: the peer is gone either way
            }
            connection.close();
            onPeerClosed.run();
        });
        return new ChunkStream(out);
    }

    boolean answered() {
        return answered;
    }

    boolean streamed() {
        return streamed;
    }

    /** The body of a streamed answer: one chunk per call. */
    public static final class ChunkStream {
        private final OutputStream out;

        ChunkStream(OutputStream out) {
            this.out = out;
        }

        public void send(byte[] data) throws IOException {
            HttpWriter.chunk(out, data);
        }

        public void end() throws IOException {
            HttpWriter.end(out);
        }
    }
}
