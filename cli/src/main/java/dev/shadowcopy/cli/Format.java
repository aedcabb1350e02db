package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.volume.Sizes;
import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;

/** How the CLI shows things. */
final class Format {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss")
            .withZone(ZoneId.systemDefault());

    private Format() {}

    /** One check of a verification verdict, as a line: {@code ok    what: message} or {@code FAILED  what: message}. */
    static String check(com.fasterxml.jackson.databind.JsonNode c) {
        return (c.path("ok").asBoolean() ? "ok    " : "FAILED") + "  " + c.path("what").asText() + ": "
                + c.path("message").asText();
    }

    static String time(JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode() || n.asText().isEmpty()) {
            return "-";
        }
        try {
            return TIME.format(Instant.parse(n.asText()));
        } catch (RuntimeException e) {
            return n.asText();
        }
    }

    static String size(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() ? "-" : Sizes.format(n.asLong());
    }

    static String text(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() ? "-" : n.asText();
    }

    static void json(PrintStream out, JsonNode n) throws Exception {
        out.println(Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(n));
    }
}
