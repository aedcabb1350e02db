package dev.shadowcopy.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Raw bytes to the daemon's sockets, for the door tests: exactly what a test (or a hostile client) sends, and
 * never a wait without a bound — a watchdog closes the socket at the deadline and {@link #timedOut} says so.
 */
final class Wire implements AutoCloseable {
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r ->
            Thread.ofPlatform().daemon().name("wire-watchdog").unstarted(r));

    final SocketChannel channel;
    private final ScheduledFuture<?> deadline;
    volatile boolean timedOut;

    private Wire(SocketChannel channel, Duration limit) {
        this.channel = channel;
        this.deadline = WATCHDOG.schedule(() -> {
            timedOut = true;
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing is the point
            }
        }, limit.toMillis(), TimeUnit.MILLISECONDS);
    }

    static Wire unix(Path socket, Duration limit) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        Wire w = new Wire(ch, limit);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return w;
    }

    static Wire tcp(int port, Duration limit) throws IOException {
        SocketChannel ch = SocketChannel.open();
        Wire w = new Wire(ch, limit);
        ch.connect(new InetSocketAddress("127.0.0.1", port));
        return w;
    }

    Wire send(byte[] b) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(b);
        while (buf.hasRemaining()) {
            channel.write(buf);
        }
        return this;
    }

    Wire send(String s) throws IOException {
        return send(s.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Half-closes: the server sees the end of the request stream (and nothing it could wait for). */
    Wire endOutput() throws IOException {
        channel.shutdownOutput();
        return this;
    }

    /** Exactly {@code n} bytes, or fewer if the peer closed first. */
    byte[] read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining() && channel.read(b) >= 0) {
            // keep reading
        }
        return java.util.Arrays.copyOf(b.array(), b.position());
    }

    /** Everything until the peer closes (or the deadline). */
    byte[] readToEnd() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(64 * 1024);
        try {
            int n;
            while ((n = channel.read(b)) >= 0) {
                out.write(b.array(), 0, n);
                b.clear();
            }
        } catch (IOException e) {
            // reset or closed by the watchdog: what arrived is the answer
        }
        return out.toByteArray();
    }

    /** True once the peer has closed: a read returns end of stream (or the connection was reset). */
    boolean closedByPeer() {
        try {
            return channel.read(ByteBuffer.allocate(1)) < 0;
        } catch (IOException e) {
            return !timedOut;
        }
    }

    /** The status of an HTTP answer, or -1 if there is none. */
    static int status(byte[] answer) {
        String s = new String(answer, 0, Math.min(answer.length, 32), StandardCharsets.ISO_8859_1);
        if (!s.startsWith("HTTP/1.1 ") || s.length() < 12) {
            return -1;
        }
        try {
            return Integer.parseInt(s.substring(9, 12));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** One request on a new connection, half-closed after it; the whole answer. */
    static byte[] http(Path socket, String request, Duration limit) throws IOException {
        try (Wire w = unix(socket, limit)) {
            w.send(request).endOutput();
            return w.readToEnd();
        }
    }

    /** A request with a JSON body (or none), as curl would send it. */
    static String request(String method, String path, String json) {
        String body = json == null ? "" : json;
        return method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + (json == null ? "" : "Content-Type: application/json\r\n")
                + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
    }

    @Override
    public void close() throws IOException {
        deadline.cancel(false);
        channel.close();
    }
}
