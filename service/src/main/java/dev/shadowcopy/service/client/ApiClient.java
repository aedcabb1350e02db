package dev.shadowcopy.service.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.Json;
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
import java.util.Map;

/**
 * The service's API over its Unix socket, on one kept-alive connection. A session opened through a client
 * lives as long as the client's connection: closing the client (or the process dying) releases it.
 */
public final class ApiClient implements AutoCloseable {
    public static final int MAX_RESPONSE = 64 << 20;
    private final Path socket;
    private final SocketChannel channel;
    private final OutputStream out;
    private final HttpReader reader;

    private ApiClient(Path socket, SocketChannel channel) {
        this.socket = socket;
        this.channel = channel;
        this.out = new BufferedOutputStream(Channels.newOutputStream(channel), 16 * 1024);
        InputStream in = new BufferedInputStream(Channels.newInputStream(channel), 16 * 1024);
        this.reader = new HttpReader(in);
    }

    /** Connects to {@code STATE/shadowcopy.sock}, saying clearly when no daemon is there. */
    public static ApiClient connect(Path stateDir) throws IOException {
        Path socket = stateDir.resolve("shadowcopy.sock");
        if (!Files.exists(socket)) {
            throw new IOException("no shadowcopy daemon on " + stateDir + " (no " + socket.getFileName()
                    + "); start one with 'shadowcopy daemon --state " + stateDir + "'");
        }
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            ch.close();
            String why = e.getMessage() != null && e.getMessage().contains("ermission") ? "permission denied (you are "
                    + "not the daemon's user or in its group)" : "is the daemon running? (" + e.getMessage() + ")";
            throw new IOException("cannot connect to " + socket + ": " + why);
        }
        return new ApiClient(socket, ch);
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
        HttpWriter.request(out, method, path, b == null ? Map.of() : Map.of("Content-Type", "application/json"),
                b == null ? new byte[0] : b);
        HttpResponse r = reader.readResponse(MAX_RESPONSE);
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
        HttpWriter.request(out, method, path, b == null ? Map.of() : Map.of("Content-Type", "application/json"),
                b == null ? new byte[0] : b);
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

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
