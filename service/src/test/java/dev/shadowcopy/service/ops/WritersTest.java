package dev.shadowcopy.service.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.writer.ExternalWriter;
import dev.shadowcopy.writer.WriterMetadata;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link Writers}: {@code list writers}, and registering external writers. */
class WritersTest extends ServiceFixture {
    @Test
    void aWriterNeverSeenInASessionIsListedStableWithNoError() throws Exception {
        service.writers().register("app", WriterMetadata.minimal("app"), Duration.ofSeconds(30));
        Map<String, Object> row = service.writers().list().getFirst();
        assertEquals("app", row.get("name"));
        assertEquals("STABLE", row.get("state"));
        assertEquals("NONE", row.get("last_error"));
        assertEquals(true, row.get("present"));
    }

    @Test
    void twoWritersCannotShareAName() throws Exception {
        service.writers().register("app", WriterMetadata.minimal("app"), Duration.ofSeconds(30));
        assertEquals(VssError.OBJECT_ALREADY_EXISTS, assertThrows(ServiceException.class,
                () -> service.writers().register("app", WriterMetadata.minimal("app"), Duration.ofSeconds(30))).error());
    }

    @Test
    void aWriterThatLeftStaysListedWithItsLastStateAsNotPresent() throws Exception {
        service.writers().addBuiltin(new dev.shadowcopy.service.sequence.SnapshotSequenceTest.ScriptedWriter("db", null,
                false));
        var s = session(Context.APP_ROLLBACK);
        service.sessions().createSet(s, List.of("a"), null);
        ExternalWriter x = service.writers().register("gone", WriterMetadata.minimal("gone"), Duration.ofSeconds(30));
        service.writers().unregister(x);
        Map<String, Object> db = service.writers().list().stream().filter(r -> r.get("name").equals("db")).findFirst()
                .orElseThrow();
        assertEquals("WAITING_FOR_BACKUP_COMPLETE", db.get("state"), "its last state in a session");
        assertTrue(service.writers().list().stream().noneMatch(r -> r.get("name").equals("gone")),
                "an external writer never seen in a session is not remembered");
        assertTrue(logged("writer-unregistered"));
    }

    @Test
    void anUnknownWriterIdIsNotFoundAndAMalformedOneInvalid() {
        assertEquals(VssError.OBJECT_NOT_FOUND, assertThrows(ServiceException.class,
                () -> service.writers().external("00000000-0000-0000-0000-000000000000")).error());
        assertEquals(VssError.INVALID_ARGUMENT, assertThrows(ServiceException.class,
                () -> service.writers().external("x")).error());
    }
}
