package dev.shadowcopy.writer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.json.Json;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A writer in another process that registered over the API ({@code POST /v1/writers}). It takes its events
 * either as a stream ({@code GET /v1/writers/ID/events?stream=1}, one JSON object per line) or by long-polling
 * ({@code GET /v1/writers/ID/events?wait=SECONDS}), and answers each with
 * {@code POST /v1/writers/ID/events/SEQ} before the event's deadline.
 *
 * <p>Liveness: a streaming writer is alive while its stream connection is open; when that connection closes
 * (the process exited or was killed) the writer is gone at once and an event it was handling fails with
 * {@link WriterFailure#NOT_RESPONDING} without waiting for the deadline. A polling writer is alive while it
 * polls at least once per lease. Gone writers are dropped from the registry; a restarted process registers
 * again.
 */
public final class ExternalWriter implements Writer {
    /** One event waiting to be delivered or answered. */
    record Pending(long seq, WriterEvent event, EventContext context, CompletableFuture<Answer> answer) {}

    /** The writer's answer. */
    public record Answer(boolean ok, WriterFailure failure, String message) {}

    private final UUID id;
    private final String name;
    private final WriterMetadata metadata;
    private final Duration lease;
    private final AtomicLong seqs = new AtomicLong();
    private final LinkedBlockingQueue<Pending> undelivered = new LinkedBlockingQueue<>();
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private volatile Instant lastSeen = Instant.now();
    private volatile boolean streaming;
    private volatile String goneReason;

    public ExternalWriter(UUID id, String name, WriterMetadata metadata, Duration lease) {
        this.id = id;
        this.name = name;
        this.metadata = metadata;
        this.lease = lease;
    }

    public UUID id() {
        return id;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String kind() {
        return "external";
    }

    public WriterMetadata metadata() {
        return metadata;
    }

    public Instant lastSeen() {
        return lastSeen;
    }

    public boolean streaming() {
        return streaming;
    }

    @Override
    public boolean alive() {
        if (goneReason != null) {
            return false;
        }
        if (streaming) {
            return true;
        }
        if (Instant.now().isAfter(lastSeen.plus(lease))) {
            gone("it did not poll for events within its " + lease.toSeconds() + " s lease");
            return false;
        }
        return true;
    }

    /** Identify is answered from the registration: metadata is immutable once given (as in VSS). */
    @Override
    public WriterMetadata identify(Duration timeout) throws WriterException {
        if (!alive()) {
            throw new WriterException(WriterFailure.NOT_RESPONDING, "writer " + name + " is gone: " + goneReason);
        }
        return metadata;
    }

    @Override
    public void handle(WriterEvent event, EventContext context) throws WriterException, InterruptedException {
        if (!alive()) {
            throw new WriterException(WriterFailure.NOT_RESPONDING, "writer " + name + " is gone: " + goneReason);
        }
        Pending p = new Pending(seqs.incrementAndGet(), event, context, new CompletableFuture<>());
        pending.put(p.seq(), p);
        undelivered.add(p);
        try {
            long ms = Math.max(0, Duration.between(Instant.now(), context.deadline()).toMillis());
            Answer a = p.answer().get(ms, TimeUnit.MILLISECONDS);
            if (!a.ok()) {
                throw new WriterException(a.failure(), "writer " + name + " failed " + event.wireName()
                        + (a.message() == null || a.message().isBlank() ? "" : ": " + a.message()));
            }
        } catch (TimeoutException e) {
            throw new WriterException(WriterFailure.TIMEOUT, "writer " + name + " did not answer " + event.wireName()
                    + " before its deadline");
        } catch (ExecutionException e) {
            throw new WriterException(WriterFailure.NOT_RESPONDING, "writer " + name + " went away while handling "
                    + event.wireName() + ": " + e.getCause().getMessage());
        } finally {
            pending.remove(p.seq());
            undelivered.remove(p);
        }
    }

    /**
     * The writer's answer to event {@code seq}.
     *
     * @return false if no such event is waiting (already answered, timed out, or never sent)
     */
    public boolean answer(long seq, Answer answer) {
        lastSeen = Instant.now();
        Pending p = pending.get(seq);
        return p != null && p.answer().complete(answer);
    }

    /** Long-poll: the next event, waiting at most {@code wait}; null if none came. */
    public ObjectNode poll(Duration wait) throws InterruptedException {
        lastSeen = Instant.now();
        Pending p = undelivered.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
        lastSeen = Instant.now();
        return p == null ? null : toJson(p);
    }

    /** Streaming: the next event for the stream, waiting at most {@code wait}; null if none came. */
    public ObjectNode nextForStream(Duration wait) throws InterruptedException {
        streaming = true;
        return poll(wait);
    }

    /** The writer's process is gone (stream closed, lease ran out, unregistered): fails what it was handling. */
    public void gone(String reason) {
        if (goneReason == null) {
            goneReason = reason;
        }
        streaming = false;
        for (Pending p : pending.values()) {
            p.answer().completeExceptionally(new IllegalStateException(reason));
        }
    }

    public String goneReason() {
        return goneReason;
    }

    private static ObjectNode toJson(Pending p) {
        ObjectNode n = Json.object();
        n.put("seq", p.seq());
        n.put("event", p.event().wireName());
        EventContext c = p.context();
        n.put("set_id", c.setId() == null ? null : c.setId().toString());
        c.volumes().forEach(n.putArray("volumes")::add);
        n.put("context", c.context());
        n.put("backup_type", c.backupType());
        ObjectNode copies = n.putObject("shadow_copies");
        c.shadowCopies().forEach(copies::put);
        n.put("deadline", c.deadline().toString());
        n.put("deadline_ms", Math.max(0, Duration.between(Instant.now(), c.deadline()).toMillis()));
        return n;
    }

    @Override
    public String toString() {
        return name;
    }
}
