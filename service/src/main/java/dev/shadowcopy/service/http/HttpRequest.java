package dev.shadowcopy.service.http;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One API request: method, decoded path segments, query parameters, headers (lower-case names) and body.
 *
 * @param keepAlive false when the client asked to close the connection after the answer
 */
public record HttpRequest(String method, String path, List<String> segments, Map<String, String> query,
                          Map<String, String> headers, byte[] body, boolean keepAlive) {

    static HttpRequest parse(String method, String target, Map<String, String> headers, byte[] body, boolean http10)
            throws HttpException {
        int q = target.indexOf('?');
        String path = q >= 0 ? target.substring(0, q) : target;
        Map<String, String> query = new LinkedHashMap<>();
        try {
            if (q >= 0) {
                for (String pair : target.substring(q + 1).split("&")) {
                    if (pair.isEmpty()) {
                        continue;
                    }
                    int eq = pair.indexOf('=');
                    String k = URLDecoder.decode(eq >= 0 ? pair.substring(0, eq) : pair, StandardCharsets.UTF_8);
                    String v = eq >= 0 ? URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8) : "";
                    query.put(k, v);
                }
            }
            List<String> segments = new java.util.ArrayList<>();
            for (String s : path.split("/")) {
                if (!s.isEmpty()) {
                    String d = URLDecoder.decode(s, StandardCharsets.UTF_8);
                    if (d.equals("..") || d.equals(".")) {
                        throw new HttpException(400, "path segment '" + d + "' is not allowed");
                    }
                    segments.add(d);
                }
            }
            String connection = headers.getOrDefault("connection", "");
            boolean keepAlive = http10 ? connection.equalsIgnoreCase("keep-alive") : !connection.equalsIgnoreCase("close");
            return new HttpRequest(method, path, List.copyOf(segments), Map.copyOf(query), Map.copyOf(headers), body,
                    keepAlive);
        } catch (IllegalArgumentException e) {
            throw new HttpException(400, "malformed percent-encoding in '" + HttpReader.abbreviate(target) + "'");
        }
    }

    public String bodyText() {
        return new String(body, StandardCharsets.UTF_8);
    }
}
