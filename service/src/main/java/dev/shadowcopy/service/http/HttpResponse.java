package dev.shadowcopy.service.http;

import java.nio.charset.StandardCharsets;
import java.util.Map;

/** A response as the client reads it. */
public record HttpResponse(int status, Map<String, String> headers, byte[] body) {
    public String bodyText() {
        return new String(body, StandardCharsets.UTF_8);
    }
}
