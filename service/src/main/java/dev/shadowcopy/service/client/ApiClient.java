package dev.shadowcopy.service.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.http.HttpReader;
import dev.shadowcopy.service.http.HttpResponse;
import dev.shadowcopy.service.http.HttpWriter;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The service's API over its Unix socket, on one kept-alive connection. A session opened through a client
 * lives as long as the client's connection: closing the client (or the process dying) releases it.
 *
 * <p>Nothing waits forever on a stuck daemon: connecting, and each answer, have a deadline (a watchdog closes the
 * socket when it passes, and the call fails with a {@code TIMEOUT} {@link ApiException} that says what to do).
 * GET requests get {@link Timeouts#quick}; requests that may run the snapshot sequence or a job (every other
 * method) get {@link Timeouts#slow}, and a streamed answer gets {@code slow} between two of its lines.
 */
public final class ApiClient implements AutoCloseable {
    public static final int MAX_RESPONSE = 64 << 20;
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r ->
            Thread.ofPlatform().daemon().name("api-client-watchdog").unstarted(r));

    /**
     * How long the client waits.
     *
     * @param quick connecting, and the answer to a GET
     * @param slow  the answer to anything else (creating sets, backups, deletes, attaches), and the gap between
     *              two lines of a streamed answer; the default outlasts the longest snapshot sequence the daemon's
     *              default limits allow (seven writer deadlines of 60 s)
     */
    public record Timeouts(Duration quick, Duration slow) {
        public static final Timeouts DEFAULT = new Timeouts(Duration.ofSeconds(60), Duration.ofMinutes(15));

        /** Both set to {@code d} ({@code --timeout}). */
        public static Timeouts of(Duration d) {
            return new Timeouts(d, d);
        }
    }

    private final Path socket;
    private final SocketChannel channel;
    private final OutputStream out;
    private final HttpReader reader;
    private final Timeouts timeouts;
    private volatile boolean expired;

    private ApiClient(Path socket, SocketChannel channel, Timeouts timeouts) {
        this.socket = socket;
        this.channel = channel;
        this.timeouts = timeouts;
        this.out = new BufferedOutputStream(Channels.newOutputStream(channel), 16 * 1024);
        InputStream in = new BufferedInputStream(Channels.newInputStream(channel), 16 * 1024);
        this.reader = new HttpReader(in);
    }

    /** Connects to {@code STATE/shadowcopy.sock} with the default timeouts. */
    public static ApiClient connect(Path stateDir) throws IOException {
        return connect(stateDir, Timeouts.DEFAULT);
    }

    /** Connects to {@code STATE/shadowcopy.sock}, saying clearly when no daemon is there or it does not accept. */
    public static ApiClient connect(Path stateDir, Timeouts timeouts) throws IOException {
        Path socket = stateDir.resolve("shadowcopy.sock");
        if (!Files.exists(socket)) {
            throw new IOException("no shadowcopy daemon on " + stateDir + " (no " + socket.getFileName()
                    + "); start one with 'shadowcopy daemon --state " + stateDir + "'");
        }
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        boolean[] late = {false};
        ScheduledFuture<?> deadline = WATCHDOG.schedule(() -> {
            late[0] = true;
            closeQuietly(ch);
        }, timeouts.quick().toMillis(), TimeUnit.MILLISECONDS);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            ch.close();
            if (late[0]) {
                throw timeout("could not connect to " + socket + " within " + seconds(timeouts.quick())
                        + ": the daemon does not accept connections (stuck, or flooded)");
            }
            String why = e.getMessage() != null && e.getMessage().contains("ermission") ? "permission denied (you are "
                    + "not the daemon's user or in its group)" : "is the daemon running? (" + e.getMessage() + ")";
            throw new IOException("cannot connect to " + socket + ": " + why);
        } finally {
            deadline.cancel(false);
        }
        return new ApiClient(socket, ch, timeouts);
    }

    public JsonNode get(String path) throws IOException {
        return call("GET", path, null);
    }

    public JsonNode post(String path, Object body) throws IOException {
        return call("POST", path, body == null ? Json.object() : body);
    }

    public JsonNode put(String path, Object body) throws IOException {
        return call("PUT", path, body);
    }

    public JsonNode delete(String path) throws IOException {
        return call("DELETE", path, null);
    }

    /** One request; an error answer becomes an {@link ApiException}. A 204 answer is null. */
    public synchronized JsonNode call(String method, String path, Object body) throws IOException {
        byte[] b = body == null ? null : Json.bytes(body);
        Duration limit = method.equals("GET") ? timeouts.quick() : timeouts.slow();
        HttpResponse r;
        arm(limit);
        try {
            HttpWriter.request(out, method, path, b == null ? Map.of() : Map.of("Content-Type", "application/json"),
                    b == null ? new byte[0] : b);
            r = reader.readResponse(MAX_RESPONSE);
        } catch (IOException e) {
            throw late(e, method, path, limit);
        } finally {
            disarm();
        }
        if (r == null) {
            throw new IOException("the daemon closed the connection on " + socket + " (did it stop?)");
        }
        if (r.status() == 204) {
            return null;
        }
        JsonNode n;
        try {
            n = r.body().length == 0 ? Json.object() : Json.MAPPER.readTree(r.body());
        } catch (IOException e) {
            throw new IOException("the daemon answered " + r.status() + " with something that is not JSON");
        }
        if (r.status() >= 400) {
            JsonNode e = n.path("error");
            throw new ApiException(r.status(), e.path("code").asText("HTTP_" + r.status()), e.path("hresult").asText(""),
                    e.path("message").asText("HTTP " + r.status()), e.path("retryable").asBoolean(false),
                    e.path("writer").isNull() ? null : e.path("writer").asText(null));
        }
        return n;
    }

    /**
     * A request answered by an NDJSON stream (backups, restores): every {@code progress} line goes to
     * {@code onProgress}; the final {@code result} line is returned; an {@code error} line (or an ordinary
     * error answer) becomes an {@link ApiException}.
     */
    public synchronized JsonNode stream(String method, String path, Object body,
                                        java.util.function.Consumer<JsonNode> onProgress) throws IOException {
        byte[] b = body == null ? null : Json.bytes(body);
        Duration limit = timeouts.slow();
        arm(limit);
        try {
            HttpWriter.request(out, method, path, b == null ? Map.of() : Map.of("Content-Type", "application/json"),
                    b == null ? new byte[0] : b);
            return readStream(path, onProgress, limit);
        } catch (IOException e) {
            throw late(e, method, path, limit);
        } finally {
            disarm();
        }
    }

    private JsonNode readStream(String path, java.util.function.Consumer<JsonNode> onProgress, Duration limit)
            throws IOException {
        HttpReader.ResponseHead head = reader.readResponseHead();
        if (head == null) {
            throw new IOException("the daemon closed the connection on " + socket + " (did it stop?)");
        }
        if (!head.chunked()) {
            JsonNode n = Json.MAPPER.readTree(reader.readFixedBody(head.headers(), MAX_RESPONSE));
            throw error(head.status(), n);
        }
        StringBuilder pending = new StringBuilder();
        byte[] chunk;
        JsonNode result = null;
        while ((chunk = reader.readChunk(MAX_RESPONSE)) != null) {
            disarm(); // a line arrived: the next one has a fresh deadline
            arm(limit);
            pending.append(new String(chunk, java.nio.charset.StandardCharsets.UTF_8));
            int nl;
            while ((nl = pending.indexOf("\n")) >= 0) {
                String line = pending.substring(0, nl).strip();
                pending.delete(0, nl + 1);
                if (line.isEmpty()) {
                    continue;
                }
                JsonNode n = Json.MAPPER.readTree(line);
                switch (n.path("event").asText()) {
                    case "progress" -> onProgress.accept(n);
                    case "error" -> throw error(n.path("status").asInt(500), n);
                    default -> result = n;
                }
            }
        }
        if (result == null) {
            throw new IOException("the daemon ended the answer to " + path + " without a result (did it stop?)");
        }
        return result;
    }

    private static ApiException error(int status, JsonNode n) {
        JsonNode e = n.path("error");
        return new ApiException(status, e.path("code").asText("HTTP_" + status), e.path("hresult").asText(""),
                e.path("message").asText("HTTP " + status), e.path("retryable").asBoolean(false),
                e.path("writer").isNull() ? null : e.path("writer").asText(null));
    }

    // ------------------------------------------------------------------ deadlines

    private ScheduledFuture<?> deadline; // of the call in progress; calls are serialised (synchronized)

    /** Arms a deadline: when it passes, the socket is closed and the blocked call fails. */
    private void arm(Duration limit) {
        expired = false;
        deadline = WATCHDOG.schedule(() -> {
            expired = true;
            closeQuietly(channel);
        }, limit.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void disarm() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }

    /** {@code e} as the caller should see it: a TIMEOUT if the deadline closed the socket. */
    private IOException late(IOException e, String method, String path, Duration limit) {
        if (!expired) {
            return e;
        }
        return timeout("the daemon did not answer " + method + " " + path + " within " + seconds(limit) + " (on "
                + socket + "); it may be stuck or very busy: see its log (journalctl -u shadowcopy), or wait longer "
                + "with --timeout SECONDS");
    }

    private static ApiException timeout(String message) {
        return new ApiException(0, "TIMEOUT", "", message, true, null);
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // closing to end a wait: nothing more to do
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
