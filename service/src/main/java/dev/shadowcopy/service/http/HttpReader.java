package dev.shadowcopy.service.http;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Reads HTTP/1.1 messages (start line, headers, body) from a stream, for both sides of the API socket. Every
 * length is bounded, so a malformed or hostile peer gets a {@link HttpException} and never unbounded memory:
 *
 * <ul>
 *   <li>a line (start line or header) is at most {@value #MAX_LINE} bytes, CRLF- or LF-terminated;</li>
 *   <li>at most {@value #MAX_HEADERS} headers, {@code Content-Length} and {@code Transfer-Encoding} at most once;</li>
 *   <li>a body is framed by {@code Content-Length} (at most {@code maxBody}) or, in responses, by chunked
 *       transfer coding (each chunk at most {@code maxBody}). Requests with chunked bodies are refused: the API
 *       never needs them.</li>
 * </ul>
 *
 * <p>Not thread-safe: one reader per connection.
 */
public final class HttpReader {
    public static final int MAX_LINE = 8192;
    public static final int MAX_HEADERS = 100;

    private final InputStream in;
    private final byte[] line = new byte[MAX_LINE];

    public HttpReader(InputStream in) {
        this.in = in;
    }

    /** The next line without its terminator, or null at a clean end of stream before any byte of it. */
    String readLine() throws IOException {
        int n = 0;
        while (true) {
            int b = in.read();
            if (b < 0) {
                if (n == 0) {
                    return null;
                }
                throw new EOFException("connection closed in the middle of a line");
            }
            if (b == '\n') {
                if (n > 0 && line[n - 1] == '\r') {
                    n--;
                }
                return new String(line, 0, n, StandardCharsets.ISO_8859_1);
            }
            if (n == MAX_LINE) {
                throw new HttpException(431, "line longer than " + MAX_LINE + " bytes (expected: at most " + MAX_LINE + ")");
            }
            line[n++] = (byte) b;
        }
    }

    private static final Set<String> FRAMING = Set.of("content-length", "transfer-encoding");

    /**
     * Header names are lower-cased; a repeated header keeps the last value, except the headers that frame the
     * body ({@code Content-Length}, {@code Transfer-Encoding}), which may appear once.
     */
    Map<String, String> readHeaders() throws IOException {
        Map<String, String> headers = new LinkedHashMap<>();
        int lines = 0; // counted as lines, not map entries: a repeated header must not evade the limit
        while (true) {
            String h = readLine();
            if (h == null) {
                throw new EOFException("connection closed in the headers");
            }
            if (h.isEmpty()) {
                return headers;
            }
            if (++lines > MAX_HEADERS) {
                throw new HttpException(431, "more than " + MAX_HEADERS + " headers (expected: at most " + MAX_HEADERS + ")");
            }
            int colon = h.indexOf(':');
            if (colon <= 0 || h.charAt(0) == ' ' || h.charAt(0) == '\t') {
                throw new HttpException(400, "malformed header line '" + abbreviate(h) + "' (expected: name: value)");
            }
            String name = h.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            if (headers.containsKey(name) && FRAMING.contains(name)) {
                // two framings of one body are how requests get smuggled: refuse, never pick one (RFC 9112 6.3)
                throw new HttpException(400, "duplicate " + name + " header (expected: at most one)");
            }
            headers.put(name, h.substring(colon + 1).trim());
        }
    }

    /** Reads a request; null at a clean end of stream between requests. */
    public HttpRequest readRequest(int maxBody) throws IOException {
        String start = readLine();
        while (start != null && start.isEmpty()) {
            start = readLine(); // RFC 9112 2.2: ignore empty lines before a request line
        }
        if (start == null) {
            return null;
        }
        String[] parts = start.split(" ", -1);
        if (parts.length != 3 || parts[0].isEmpty() || parts[1].isEmpty() || !parts[2].startsWith("HTTP/1.")) {
            throw new HttpException(400, "malformed request line '" + abbreviate(start)
                    + "' (expected: METHOD /path HTTP/1.1)");
        }
        for (char c : parts[0].toCharArray()) {
            if (c < 'A' || c > 'Z') {
                throw new HttpException(400, "malformed method '" + abbreviate(parts[0]) + "'");
            }
        }
        if (!parts[1].startsWith("/")) {
            throw new HttpException(400, "request target '" + abbreviate(parts[1]) + "' is not an absolute path");
        }
        Map<String, String> headers = readHeaders();
        if (headers.containsKey("transfer-encoding")) {
            throw new HttpException(501, "request bodies with Transfer-Encoding are not supported (send Content-Length)");
        }
        byte[] body = readFixedBody(headers, maxBody);
        boolean http10 = parts[2].equals("HTTP/1.0");
        return HttpRequest.parse(parts[0], parts[1], headers, body, http10);
    }

    /** Reads a response: status, headers and body (Content-Length, chunked, or until close). */
    public HttpResponse readResponse(int maxBody) throws IOException {
        ResponseHead head = readResponseHead();
        if (head == null) {
            throw new EOFException("the service closed the connection without answering");
        }
        byte[] body;
        if (head.chunked()) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            byte[] chunk;
            while ((chunk = readChunk(maxBody)) != null) {
                if (out.size() + chunk.length > maxBody) {
                    throw new HttpException(502, "response body larger than " + maxBody + " bytes");
                }
                out.write(chunk);
            }
            body = out.toByteArray();
        } else {
            body = readFixedBody(head.headers(), maxBody);
        }
        return new HttpResponse(head.status(), head.headers(), body);
    }

    /** Status line and headers of a response; null at end of stream. */
    public ResponseHead readResponseHead() throws IOException {
        String start = readLine();
        if (start == null) {
            return null;
        }
        String[] parts = start.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
            throw new HttpException(502, "malformed status line '" + abbreviate(start) + "'");
        }
        int status;
        try {
            status = Integer.parseInt(parts[1]);
        } catch (NumberFormatException e) {
            throw new HttpException(502, "malformed status '" + abbreviate(parts[1]) + "'");
        }
        Map<String, String> headers = readHeaders();
        boolean chunked = "chunked".equalsIgnoreCase(headers.getOrDefault("transfer-encoding", ""));
        return new ResponseHead(status, headers, chunked);
    }

    public record ResponseHead(int status, Map<String, String> headers, boolean chunked) {}

    /** The next chunk of a chunked body; null after the last (zero-length) chunk and its trailers. */
    public byte[] readChunk(int maxChunk) throws IOException {
        String sizeLine = readLine();
        if (sizeLine == null) {
            throw new EOFException("connection closed in a chunked body");
        }
        int semi = sizeLine.indexOf(';');
        String hex = (semi >= 0 ? sizeLine.substring(0, semi) : sizeLine).trim();
        long size;
        try {
            size = Long.parseLong(hex, 16);
        } catch (NumberFormatException e) {
            throw new HttpException(400, "malformed chunk size '" + abbreviate(sizeLine) + "'");
        }
        if (size < 0 || size > maxChunk) {
            throw new HttpException(413, "chunk of " + size + " bytes (expected: at most " + maxChunk + ")");
        }
        if (size == 0) {
            readHeaders(); // trailers, then the final CRLF
            return null;
        }
        byte[] data = in.readNBytes((int) size);
        if (data.length != size) {
            throw new EOFException("connection closed in a chunk");
        }
        String end = readLine();
        if (end == null || !end.isEmpty()) {
            throw new HttpException(400, "chunk not followed by CRLF");
        }
        return data;
    }

    public byte[] readFixedBody(Map<String, String> headers, int maxBody) throws IOException {
        String cl = headers.get("content-length");
        if (cl == null) {
            return new byte[0];
        }
        long length;
        try {
            if (cl.isEmpty() || !cl.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
                throw new NumberFormatException(cl);
            }
            length = Long.parseLong(cl);
        } catch (NumberFormatException e) {
            throw new HttpException(400, "malformed Content-Length '" + abbreviate(cl) + "' (expected: digits only)");
        }
        if (length < 0) {
            throw new HttpException(400, "negative Content-Length " + length);
        }
        if (length > maxBody) {
            throw new HttpException(413, "body of " + length + " bytes (expected: at most " + maxBody + ")");
        }
        byte[] body = in.readNBytes((int) length);
        if (body.length != length) {
            throw new EOFException("connection closed after " + body.length + " of " + length + " body bytes");
        }
        return body;
    }

    static String abbreviate(String s) {
        String printable = s.replaceAll("[^\\x20-\\x7e]", "?");
        return printable.length() <= 80 ? printable : printable.substring(0, 77) + "...";
    }
}
