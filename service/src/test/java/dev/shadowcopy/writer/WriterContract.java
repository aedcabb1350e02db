package dev.shadowcopy.writer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * What every {@link Writer} promises the service (STYLE 16: each implementation's test extends this): a name and a
 * kind, an Identify that describes it and keeps no state, every event of a backup answered in order, and an Abort
 * that can come after any event, more than once, and leaves the writer ready for the next set. Events go through
 * {@link WriterCall}, as the service sends them: on a thread of their own, under a deadline.
 */
public abstract class WriterContract {
    /** The events of one backup, in the order the service sends them. */
    protected static final List<WriterEvent> BACKUP = List.of(WriterEvent.PREPARE_FOR_BACKUP, WriterEvent.PREPARE_FOR_SNAPSHOT,
            WriterEvent.FREEZE, WriterEvent.THAW, WriterEvent.POST_SNAPSHOT, WriterEvent.BACKUP_COMPLETE,
            WriterEvent.BACKUP_SHUTDOWN);

    /** The writer under test, working (its application running); made fresh for each test. */
    protected abstract Writer writer() throws Exception;

    /** The volumes of the sets the contract sends (those the writer's files are on, when it names any). */
    protected List<String> volumes() {
        return List.of("data");
    }

    protected EventContext context() {
        return new EventContext(UUID.randomUUID(), volumes(), "backup", "full", Map.of(),
                Instant.now().plus(Duration.ofSeconds(60)), new BackupComponents(), Map.of());
    }

    protected static WriterCall.Outcome send(Writer w, WriterEvent e, EventContext ctx) {
        return WriterCall.call(w, e, ctx);
    }

    private static void ok(WriterCall.Outcome o) {
        assertTrue(o.ok(), o.event().wireName() + " failed: " + o.failure() + " " + o.message());
    }

    @Test
    void itHasANameAndOneOfTheKnownKinds() throws Exception {
        Writer w = writer();
        assertFalse(w.name() == null || w.name().isBlank(), "a name");
        assertTrue(Set.of("hook", "external", "builtin").contains(w.kind()), w.kind());
        assertTrue(w.alive());
    }

    @Test
    void identifyDescribesItAndKeepsNoState() throws Exception {
        Writer w = writer();
        WriterCall.Outcome first = send(w, WriterEvent.IDENTIFY, context());
        WriterCall.Outcome second = send(w, WriterEvent.IDENTIFY, context());
        ok(first);
        ok(second);
        assertNotNull(first.metadata(), "identify returns metadata");
        assertEquals(first.metadata().toXml(), second.metadata().toXml(), "identify twice: the same document");
    }

    @Test
    void everyEventOfABackupIsAnsweredInOrder() throws Exception {
        Writer w = writer();
        EventContext ctx = context();
        ok(send(w, WriterEvent.IDENTIFY, ctx));
        for (WriterEvent e : BACKUP) {
            ok(send(w, e, ctx));
        }
    }

    @Test
    void abortAfterFreezeMayComeTwiceAndTheNextBackupWorks() throws Exception {
        Writer w = writer();
        EventContext ctx = context();
        ok(send(w, WriterEvent.IDENTIFY, ctx));
        ok(send(w, WriterEvent.PREPARE_FOR_BACKUP, ctx));
        ok(send(w, WriterEvent.PREPARE_FOR_SNAPSHOT, ctx));
        ok(send(w, WriterEvent.FREEZE, ctx));
        ok(send(w, WriterEvent.ABORT, ctx));
        ok(send(w, WriterEvent.ABORT, ctx));
        EventContext next = context();
        for (WriterEvent e : BACKUP) {
            ok(send(w, e, next));
        }
    }

    @Test
    void abortWithNothingToUndoSucceeds() throws Exception {
        Writer w = writer();
        ok(send(w, WriterEvent.ABORT, context()));
        ok(send(w, WriterEvent.PREPARE_FOR_BACKUP, context()));
        ok(send(w, WriterEvent.ABORT, context()));
    }
}
