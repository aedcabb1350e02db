package dev.shadowcopy.writer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An external writer (a process on the API) keeps the writer contract: here its process is a thread that polls for
 * events, as {@code GET /v1/writers/ID/events?wait=S} does, and answers each as {@code POST …/events/SEQ} does.
 */
class ExternalWriterContractTest extends WriterContract {
    final List<String> heard = new CopyOnWriteArrayList<>();
    ExternalWriter writer;
    Thread process;

    @Override
    protected Writer writer() {
        writer = new ExternalWriter(UUID.randomUUID(), "app", WriterMetadata.minimal("app"), Duration.ofSeconds(30));
        ExternalWriter w = writer;
        process = Thread.ofVirtual().start(() -> {
            try {
                while (w.alive()) {
                    ObjectNode e = w.poll(Duration.ofMillis(200));
                    if (e != null) {
                        heard.add(e.path("event").asText());
                        w.answer(e.path("seq").asLong(), new ExternalWriter.Answer(true, WriterFailure.NONE, null));
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        return w;
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (writer != null) {
            writer.gone("the test ended");
            process.interrupt();
            process.join();
        }
    }

    @Test
    void itsProcessHearsTheEventsByTheirWireNames() throws Exception {
        Writer w = writer();
        for (WriterEvent e : BACKUP) {
            send(w, e, context());
        }
        assertEquals(BACKUP.stream().map(WriterEvent::wireName).toList(), heard);
    }

    @Test
    void aWriterWhoseProcessWentAwayIsNotRespondingAtOnce() throws Exception {
        Writer w = writer();
        writer.gone("its event stream closed");
        WriterCall.Outcome o = send(w, WriterEvent.FREEZE, context());
        assertEquals(WriterFailure.NOT_RESPONDING, o.failure(), o.message());
    }
}
