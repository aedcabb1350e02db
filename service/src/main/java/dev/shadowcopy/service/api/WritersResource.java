package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.http.Exchange;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.Writers;
import dev.shadowcopy.writer.ExternalWriter;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterMetadata;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * {@code /v1/writers}: {@code list writers}, and external writers — register, receive events (an NDJSON stream with
 * heartbeats, or long polls), answer them, unregister. Operators act on writers they registered.
 */
final class WritersResource {
    private final Writers writers;
    private final ApiAccess access;

    WritersResource(Writers writers, ApiAccess access) {
        this.writers = writers;
        this.access = access;
    }

    void register(Routes routes) {
        routes.get("/v1/writers", c -> c.ok(Render.wrap("writers", Json.MAPPER.valueToTree(writers.list()))))
                .post("/v1/writers", this::registerWriter)
                // any path below a writer: it must be registered and the caller's
                .guardBelow("/v1/writers/{id}", c -> {
                    ExternalWriter w = writers.external(c.param("id"));
                    access.owner(c.caller(), w.id().toString(), "writer");
                    c.resolved(ExternalWriter.class, w);
                })
                .delete("/v1/writers/{id}", this::unregister)
                .get("/v1/writers/{id}", this::show)
                .get("/v1/writers/{id}/events", this::events)
                .post("/v1/writers/{id}/events/{seq}", this::answer);
    }

    private void registerWriter(Call c) throws Exception {
        JsonNode b = c.body();
        String name = Call.text(b, "name", true);
        String xml = Call.text(b, "metadata", false);
        WriterMetadata md = xml == null ? WriterMetadata.minimal(name) : WriterMetadata.parse(xml);
        long lease = b.path("lease_seconds").asLong(30);
        if (lease < 1 || lease > 3600) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "lease_seconds must be 1..3600, was " + lease);
        }
        ExternalWriter w = writers.register(name, md, Duration.ofSeconds(lease));
        access.opened(w.id().toString(), c.caller());
        c.ok(201, Json.object().put("id", w.id().toString()).put("name", name).put("lease_seconds", lease));
    }

    private void unregister(Call c) throws Exception {
        ExternalWriter w = c.resolved(ExternalWriter.class);
        writers.unregister(w);
        c.ok(Json.object().put("unregistered", w.id().toString()));
    }

    private void show(Call c) throws Exception {
        ExternalWriter w = c.resolved(ExternalWriter.class);
        c.ok(Json.object().put("id", w.id().toString()).put("name", w.name()).put("alive", w.alive())
                .put("metadata", w.metadata().toXml()));
    }

    private void events(Call c) throws Exception {
        ExternalWriter w = c.resolved(ExternalWriter.class);
        if (c.hasQuery("stream")) {
            stream(c.exchange(), w);
            return;
        }
        long wait = c.hasQuery("wait") ? Call.parseLong(c.query("wait"), "wait") : 0;
        if (wait < 0 || wait > 300) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "wait must be 0..300 seconds");
        }
        ObjectNode e = w.poll(Duration.ofSeconds(wait));
        if (e == null) {
            c.exchange().respond(204, new byte[0]);
        } else {
            c.ok(e);
        }
    }

    private void answer(Call c) throws Exception {
        ExternalWriter w = c.resolved(ExternalWriter.class);
        long seq = Call.parseLong(c.param("seq"), "event sequence number");
        JsonNode b = c.body();
        boolean okAnswer = b.path("ok").asBoolean(false);
        WriterFailure f = okAnswer ? WriterFailure.NONE : WriterFailure.parse(b.path("failure").asText(null));
        if (!w.answer(seq, new ExternalWriter.Answer(okAnswer, f, b.path("message").asText(null)))) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "writer " + w.name() + " has no event " + seq
                    + " waiting for an answer (answered already, or its deadline passed)");
        }
        c.ok(Json.object().put("accepted", seq));
    }

    /** The writer's events as NDJSON lines, a heartbeat every 15 s; the writer is dropped when the stream ends. */
    private void stream(Exchange ex, ExternalWriter w) throws IOException, InterruptedException {
        Exchange.ChunkStream out = ex.stream(200, () -> writers.streamClosed(w));
        out.send((Json.text(Json.object().put("event", "registered").put("id", w.id().toString())) + "\n")
                .getBytes(StandardCharsets.UTF_8));
        while (w.alive() && ex.connection().isOpen()) {
            ObjectNode e = w.nextForStream(Duration.ofSeconds(15));
            ObjectNode line = e != null ? e : Json.object().put("event", "heartbeat");
            try {
                out.send((Json.text(line) + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (IOException io) {
                writers.streamBroke(w, io.getMessage());
                return;
            }
        }
        try {
            out.end();
        } catch (IOException ignored) {
            // the writer is gone already
        }
    }
}
