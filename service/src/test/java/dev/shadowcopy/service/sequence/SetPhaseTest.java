package dev.shadowcopy.service.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.service.Service;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.volume.VolumeConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The set creation's state machine: its order, and where a failure leaves it (what abort had to undo). */
class SetPhaseTest {
    @TempDir
    Path tmp;

    @Test
    void eachPhaseIsEnteredOnlyFromTheOneBeforeIt() {
        SetPhase p = SetPhase.RECORDED;
        for (SetPhase next : SetPhase.values()) {
            if (next == SetPhase.RECORDED || next == SetPhase.ABORTED) {
                continue;
            }
            p = p.to(next);
        }
        assertEquals(SetPhase.CREATED, p);
    }

    @Test
    void noPhaseIsSkipped() {
        assertThrows(IllegalStateException.class, () -> SetPhase.PREPARING.to(SetPhase.FLUSHING));
    }

    @Test
    void noPhaseIsEnteredTwiceOrGoneBackTo() {
        assertThrows(IllegalStateException.class, () -> SetPhase.FREEZING.to(SetPhase.FREEZING));
        assertThrows(IllegalStateException.class, () -> SetPhase.THAWING.to(SetPhase.FREEZING));
    }

    @Test
    void anyUnfinishedPhaseMayAbort() {
        for (SetPhase p : SetPhase.values()) {
            if (!p.finished()) {
                assertEquals(SetPhase.ABORTED, p.to(SetPhase.ABORTED));
            }
        }
    }

    @Test
    void aCreatedSetCannotBeAbortedNorAnAbortedOneCreated() {
        assertThrows(IllegalStateException.class, () -> SetPhase.CREATED.to(SetPhase.ABORTED));
        assertThrows(IllegalStateException.class, () -> SetPhase.ABORTED.to(SetPhase.CREATED));
        assertThrows(IllegalStateException.class, () -> SetPhase.RECORDING.to(SetPhase.ABORTED).to(SetPhase.CREATED));
    }

    /** A writer failing at each event aborts the set in the phase that sends it; the event log names that phase. */
    @ParameterizedTest
    @CsvSource({"IDENTIFY, gathering", "PREPARE_FOR_BACKUP, preparing", "PREPARE_FOR_SNAPSHOT, preparing",
        "FREEZE, freezing", "THAW, thawing", "POST_SNAPSHOT, post_snapshot"})
    void aWriterFailureAbortsInThePhaseThatSentTheEvent(WriterEvent failAt, String phase) throws Exception {
        Timeouts t = new Timeouts(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(5),
                Duration.ofSeconds(5));
        try (Service service = Service.start(new DaemonConfig(tmp.resolve("state"), null, null, t, null))) {
            service.volumes().create(VolumeConfig.sparse("a", 8 << 20));
            service.writers().addBuiltin(new SnapshotSequenceTest.ScriptedWriter("w", failAt, false));
            // writer verify: a writer failing Identify fails the set instead of dropping out
            Session s = service.sessions().open(Context.APP_ROLLBACK, "full", Set.of(),
                    failAt == WriterEvent.IDENTIFY ? Set.of("w") : Set.of(), "test", null);
            assertThrows(ServiceException.class, () -> service.sessions().createSet(s, List.of("a"), null));
            var aborted = service.events().since(0, 2000).stream()
                    .filter(e -> e.path("type").asText().equals("set-aborted")).toList();
            assertEquals(1, aborted.size());
            assertEquals(phase, aborted.getFirst().path("details").path("phase").asText());
            assertEquals(0, service.volumes().get("a").shadowCopies().size(), "nothing made is left");
        }
    }
}
