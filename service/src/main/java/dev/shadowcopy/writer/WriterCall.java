package dev.shadowcopy.writer;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Calls a writer on a virtual thread of its own and waits at most until the event's deadline (plus a short
 * grace for the writer's own timeout handling to report first). A writer that does not return by then is
 * interrupted and abandoned: whatever it does afterwards cannot hold up the service.
 */
public final class WriterCall {
    static final Duration GRACE = Duration.ofMillis(500);

    /** The result of one call: null failure means success. */
    public record Outcome(Writer writer, WriterEvent event, WriterFailure failure, String message,
                          WriterMetadata metadata) {
        public boolean ok() {
            return failure == null;
        }
    }

    private WriterCall() {}

    public static Outcome call(Writer w, WriterEvent event, EventContext ctx) {
        CompletableFuture<WriterMetadata> f = new CompletableFuture<>();
        Thread t = Thread.ofVirtual().name("writer-" + w.name() + "-" + event.wireName()).start(() -> {
            try {
                if (event == WriterEvent.IDENTIFY) {
                    f.complete(w.identify(Duration.between(Instant.now(), ctx.deadline())));
                } else {
                    w.handle(event, ctx);
                    f.complete(null);
                }
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        long ms = Math.max(0, Duration.between(Instant.now(), ctx.deadline()).plus(GRACE).toMillis());
        try {
            return new Outcome(w, event, null, null, f.get(ms, TimeUnit.MILLISECONDS));
        } catch (TimeoutException e) {
            t.interrupt();
            return new Outcome(w, event, WriterFailure.TIMEOUT, "writer " + w.name() + " did not finish "
                    + event.wireName() + " within its deadline", null);
        } catch (InterruptedException e) {
            t.interrupt();
            Thread.currentThread().interrupt();
            return new Outcome(w, event, WriterFailure.NOT_RESPONDING, "interrupted while waiting for writer "
                    + w.name(), null);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof WriterException we) {
                return new Outcome(w, event, we.failure(), we.getMessage(), null);
            }
            return new Outcome(w, event, WriterFailure.NONRETRYABLE, "writer " + w.name() + " failed "
                    + event.wireName() + ": " + c, null);
        }
    }
}
