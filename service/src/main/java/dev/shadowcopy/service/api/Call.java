package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.http.Exchange;
import dev.shadowcopy.service.http.HttpRequest;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.peer.Caller;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * One API request being answered: the exchange, the caller, the path's parameters, what guards resolved, and the
 * parsing of the body's fields with the API's error wording ({@code 'field' is required}, …).
 */
final class Call {
    private final Exchange exchange;
    private final HttpRequest request;
    private final Map<String, String> params = new HashMap<>();
    private final Map<Class<?>, Object> resolved = new HashMap<>();
    private JsonNode body;

    Call(Exchange exchange) {
        this(exchange, exchange.request());
    }

    /** A request without a connection (the route table's tests). */
    Call(Exchange exchange, HttpRequest request) {
        this.exchange = exchange;
        this.request = request;
    }

    Exchange exchange() {
        return exchange;
    }

    HttpRequest request() {
        return request;
    }

    Caller caller() {
        return exchange.connection().caller();
    }

    /** Path parameters by name ({@code {id}} → value). */
    Map<String, String> params() {
        return params;
    }

    String param(String name) {
        return params.get(name);
    }

    String query(String name) {
        return request().query().get(name);
    }

    boolean hasQuery(String name) {
        return request().query().containsKey(name);
    }

    /** Keeps what a guard resolved (a session, a writer) for the route's handler. */
    <T> void resolved(Class<T> type, T value) {
        resolved.put(type, value);
    }

    <T> T resolved(Class<T> type) {
        return type.cast(resolved.get(type));
    }

    /** The body as a JSON object (empty body: an empty object); parsed once. */
    JsonNode body() throws ServiceException {
        if (body == null) {
            JsonNode n = Json.parse(request().body());
            if (!n.isObject()) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "request body must be a JSON object");
            }
            body = n;
        }
        return body;
    }

    /** Answers 200 with {@code json}. */
    void ok(JsonNode json) throws IOException {
        ok(200, json);
    }

    void ok(int status, JsonNode json) throws IOException {
        exchange.respond(status, Json.bytes(json));
    }

    // ------------------------------------------------------------------ fields

    /** A string field; empty counts as missing. */
    static String text(JsonNode b, String field, boolean required) throws ServiceException {
        JsonNode v = b.get(field);
        if (v == null || v.isNull() || (v.isTextual() && v.asText().isEmpty())) {
            if (required) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' is required");
            }
            return null;
        }
        if (!v.isValueNode()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' must be a string");
        }
        return v.asText();
    }

    /** A list of names, or none. */
    static Set<String> strings(JsonNode b, String field) throws ServiceException {
        JsonNode v = b.get(field);
        if (v == null || v.isNull()) {
            return Set.of();
        }
        if (!v.isArray()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' must be a list of names");
        }
        Set<String> out = new LinkedHashSet<>();
        v.forEach(x -> out.add(x.asText()));
        return out;
    }

    /** An ISO-8601 instant or date (midnight UTC). */
    static Instant instant(String t, String field) throws ServiceException {
        try {
            return Instant.parse(t);
        } catch (DateTimeParseException e) {
            try {
                return LocalDate.parse(t).atStartOfDay(ZoneOffset.UTC).toInstant();
            } catch (DateTimeParseException e2) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, field + " must be an ISO-8601 instant "
                        + "(2026-12-31T00:00:00Z) or date (2026-12-31); was '" + t + "'");
            }
        }
    }

    /** {@code protect_until}: null, or an instant in the future. */
    static Instant protectUntil(JsonNode b) throws ServiceException {
        String t = text(b, "protect_until", false);
        if (t == null) {
            return null;
        }
        Instant i = instant(t, "protect_until");
        if (!i.isAfter(Instant.now())) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "protect_until " + t + " is in the past");
        }
        return i;
    }

    /** {@code lease_seconds}: a whole number of seconds, 1 to a day. */
    static long leaseSeconds(JsonNode b) throws ServiceException {
        JsonNode v = b.get("lease_seconds");
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 1 || v.asLong() > 86_400) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "lease_seconds must be a whole number of seconds "
                    + "from 1 to 86400; was " + abbreviate(v.toString()));
        }
        return v.asLong();
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }

    /** An absolute path, normalised; no NUL. */
    static Path absolute(String raw, String field) throws ServiceException {
        if (raw.indexOf('\0') >= 0 || !raw.startsWith("/")) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + field + "' must be an absolute path, was '"
                    + raw + "'");
        }
        return Path.of(raw).normalize();
    }

    /**
     * {@code h}, with the JDK's exceptions for a name or file that is missing or exists already — which the roles of
     * schedules, previous versions and shares throw — answered as {@code OBJECT_NOT_FOUND} and
     * {@code OBJECT_ALREADY_EXISTS}.
     */
    static Routes.Handler objectErrors(Routes.Handler h) {
        return c -> {
            try {
                h.handle(c);
            } catch (NoSuchElementException e) {
                throw new ServiceException(VssError.OBJECT_NOT_FOUND, e.getMessage());
            } catch (FileAlreadyExistsException e) {
                throw new ServiceException(VssError.OBJECT_ALREADY_EXISTS, e.getFile() + ": " + e.getReason());
            } catch (NoSuchFileException e) {
                throw new ServiceException(VssError.OBJECT_NOT_FOUND, e.getFile() + ": " + (e.getReason() == null
                        ? "no such file or directory" : e.getReason()));
            }
        };
    }

    static long parseLong(String s, String what) throws ServiceException {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, what + " must be a number, was '" + s + "'");
        }
    }
}
