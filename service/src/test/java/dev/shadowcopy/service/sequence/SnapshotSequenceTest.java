package dev.shadowcopy.service.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.service.Service;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.catalog.SetRecord;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.writer.EventContext;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.writer.WriterException;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterMetadata;
import dev.shadowcopy.writer.WriterState;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The coordinator with Java writers that fail, hang or succeed at every phase. */
public class SnapshotSequenceTest {
    @TempDir
    Path tmp;
    Service service;

    /** A writer that records its events and fails (or hangs) at one of them. */
    public static final class ScriptedWriter implements Writer {
        final String name;
        final WriterEvent failAt;
        final boolean hang;
        final List<String> seen = Collections.synchronizedList(new ArrayList<>());
        /** Where its files are: volume names (none: it describes no files). */
        List<String> volumes = List.of();

        public ScriptedWriter(String name, WriterEvent failAt, boolean hang) {
            this.name = name;
            this.failAt = failAt;
            this.hang = hang;
        }

        ScriptedWriter on(String... vols) {
            volumes = List.of(vols);
            return this;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public String kind() {
            return "builtin";
        }

        @Override
        public WriterMetadata identify(Duration timeout) throws WriterException, InterruptedException {
            seen.add("identify");
            if (failAt == WriterEvent.IDENTIFY) {
                throw new WriterException(WriterFailure.NONRETRYABLE, "cannot identify");
            }
            if (volumes.isEmpty()) {
                return WriterMetadata.minimal(name);
            }
            return new WriterMetadata(name, "user-data", "custom", List.of(new WriterMetadata.Component("data",
                    "data", "filegroup", true, volumes.stream().map(v -> new WriterMetadata.FileSpec("/srv/" + v, "*",
                    true, v)).toList())), List.of());
        }

        @Override
        public void handle(WriterEvent event, EventContext context) throws WriterException, InterruptedException {
            seen.add(event.wireName());
            if (event == failAt) {
                if (hang) {
                    new CountDownLatch(1).await(); // until interrupted by the service
                }
                throw new WriterException(WriterFailure.RETRYABLE, "busy at " + event.wireName());
            }
        }
    }

    @BeforeEach
    void start() throws Exception {
        Timeouts t = new Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(10), Duration.ofSeconds(2),
                Duration.ofSeconds(2));
        service = Service.start(new DaemonConfig(tmp.resolve("state"), null, null, t, null));
        service.volumes().create(VolumeConfig.sparse("a", 8 << 20));
        service.volumes().create(VolumeConfig.sparse("b", 8 << 20));
    }

    @AfterEach
    void stop() throws Exception {
        service.close();
    }

    Session session(Context c) throws ServiceException {
        return service.sessions().open(c, "full", Set.of(), Set.of(), "test", null);
    }

    @Test
    void happyPathMovesWritersThroughTheVssStates() throws Exception {
        ScriptedWriter w = new ScriptedWriter("good", null, false);
        service.writers().addBuiltin(w);
        Session s = session(Context.BACKUP);
        var set = service.sessions().createSet(s, List.of("b", "a"), null);
        assertEquals(2, set.copies().size());
        assertEquals(ShadowRecord.Consistency.APPLICATION, set.copies().getFirst().consistency());
        assertEquals(WriterState.WAITING_FOR_BACKUP_COMPLETE, s.writerStatus().getFirst().state());
        service.sessions().backupComplete(s);
        assertEquals(WriterState.STABLE, s.writerStatus().getFirst().state());
        service.sessions().release(s, "test");
        assertEquals(List.of("identify", "prepare-backup", "prepare-snapshot", "freeze", "thaw", "post-snapshot",
                "backup-complete", "backup-shutdown"), w.seen);
        assertEquals(0, service.shadows().list().size(), "backup context copies are released with the session");
    }

    /** Every phase's failure aborts the whole set: Abort to every writer, no copy, no set left creating. */
    @ParameterizedTest
    @EnumSource(value = WriterEvent.class, names = {"PREPARE_FOR_BACKUP", "PREPARE_FOR_SNAPSHOT", "FREEZE", "THAW",
        "POST_SNAPSHOT"})
    void aFailureAtAnyPhaseAbortsTheSet(WriterEvent phase) throws Exception {
        ScriptedWriter bad = new ScriptedWriter("bad", phase, false);
        ScriptedWriter good = new ScriptedWriter("good", null, false);
        service.writers().addBuiltin(bad);
        service.writers().addBuiltin(good);
        Session s = session(Context.APP_ROLLBACK);
        ServiceException e = assertThrows(ServiceException.class, () -> service.sessions().createSet(s, List.of("a", "b"), null));
        assertEquals(VssError.WRITERERROR_RETRYABLE, e.error());
        assertEquals("bad", e.writer());
        assertTrue(e.retryable());
        assertTrue(good.seen.contains("abort") && bad.seen.contains("abort"), good.seen + " / " + bad.seen);
        assertEquals(0, service.volumes().get("a").shadowCopies().size(), "no half-made copy");
        assertEquals(0, service.volumes().get("b").shadowCopies().size());
        assertEquals(0, service.shadows().list().size());
        assertTrue(service.catalog().sets().stream().noneMatch(x -> x.state() == SetRecord.State.CREATING));
        WriterStatus st = s.writerStatus().stream().filter(x -> x.name().equals("bad")).findFirst().orElseThrow();
        assertEquals(phase.failedState(), st.state());
        assertEquals(WriterFailure.RETRYABLE, st.failure());
        // volumes were released: a new session succeeds once the writer behaves
        service.writers().addBuiltin(new ScriptedWriter("bad", null, false));
        assertEquals(2, service.sessions().createSet(session(Context.APP_ROLLBACK), List.of("a", "b"), null).copies().size());
    }

    /**
     * A writer whose components are on other volumes takes no part in a set: after Identify it hears nothing (no
     * Freeze, no BackupComplete, no BackupShutdown), is not recorded with the copies, and does not make them
     * application-consistent (VSS). In a set of its volume it takes part and ends stable after BackupComplete.
     */
    @Test
    void aWriterLeftOutOfASetHearsNothingAfterIdentifyAndIsNotRecordedWithIt() throws Exception {
        ScriptedWriter onA = new ScriptedWriter("on-a", null, false).on("a");
        service.writers().addBuiltin(onA);
        Session s = session(Context.BACKUP);
        var set = service.sessions().createSet(s, List.of("b"), null);
        assertEquals(ShadowRecord.Consistency.CRASH, set.copies().getFirst().consistency(), "no writer's data is in the set");
        assertEquals(List.of(), set.copies().getFirst().writers());
        service.sessions().backupComplete(s);
        service.sessions().release(s, "test");
        assertEquals(List.of("identify"), onA.seen);

        onA.seen.clear();
        Session t = session(Context.BACKUP);
        var setA = service.sessions().createSet(t, List.of("a"), null);
        assertEquals(ShadowRecord.Consistency.APPLICATION, setA.copies().getFirst().consistency());
        assertEquals(List.of("on-a"), setA.copies().getFirst().writers().stream()
                .map(dev.shadowcopy.service.catalog.ShadowRecord.WriterOutcome::name).toList());
        service.sessions().backupComplete(t);
        assertEquals(WriterState.STABLE, t.participantStatus().getFirst().state(), "its final state");
        service.sessions().release(t, "test");
        assertEquals(List.of("identify", "prepare-backup", "prepare-snapshot", "freeze", "thaw", "post-snapshot",
                "backup-complete", "backup-shutdown"), onA.seen);
    }

    /** Protection is no weaker than shrinking shadow storage: the shrink is refused, the copy stays. */
    @Test
    void shadowStorageCannotShrinkBelowWhatAProtectedCopyNeeds() throws Exception {
        var v = service.volumes().get("a");
        var all = java.lang.foreign.Arena.ofAuto().allocate(8 << 20);
        all.fill((byte) 1);
        v.write(0, all, true);
        var set = service.sessions().createSet(session(Context.NAS_ROLLBACK), List.of("a"), Instant.now().plusSeconds(3600));
        String id = set.copies().getFirst().id().toString();
        var two = java.lang.foreign.Arena.ofAuto().allocate(2 << 20);
        two.fill((byte) 7);
        v.write(0, two, true); // 2 MiB preserved for the protected copy
        ServiceException e = assertThrows(ServiceException.class, () -> service.volumes().resizeShadowStorage("a",
                dev.shadowcopy.volume.ShadowStorageLimit.ofBytes(1L << 20)));
        assertEquals(VssError.PROTECTED, e.error());
        assertTrue(e.getMessage().contains(id) && e.getMessage().contains("2 MiB"), e.getMessage());
        assertTrue(service.events().since(0, 2000).stream().anyMatch(x -> x.path("type").asText()
                .equals("resize-refused")));
        assertEquals(dev.shadowcopy.volume.ShadowStorageLimit.unbounded(), v.config().shadowStorage(), "unchanged");
        service.volumes().resizeShadowStorage("a", dev.shadowcopy.volume.ShadowStorageLimit.ofBytes(3L << 20));
        // When it fills, the write that needs room only the protected copy could give is refused, and said so.
        var refused = assertThrows(dev.shadowcopy.device.ShadowStorageFullException.class,
                () -> v.write(4L << 20, two, true));
        assertEquals(List.of(id), refused.keptCopies());
        assertTrue(service.events().since(0, 2000).stream().anyMatch(x -> x.path("type").asText()
                .equals("write-refused") && x.path("level").asText().equals("error")));
        assertEquals(List.of(id), service.shadows().list().stream().map(r -> r.id().toString()).toList());
    }

    @Test
    void aHangingWriterTimesOutAndDoesNotHangTheService() throws Exception {
        service.writers().addBuiltin(new ScriptedWriter("stuck", WriterEvent.FREEZE, true));
        Instant t0 = Instant.now();
        ServiceException e = assertThrows(ServiceException.class,
                () -> service.sessions().createSet(session(Context.APP_ROLLBACK), List.of("a"), null));
        assertEquals(VssError.WRITERERROR_TIMEOUT, e.error());
        assertEquals("stuck", e.writer());
        assertTrue(Duration.between(t0, Instant.now()).compareTo(Duration.ofSeconds(15)) < 0);
        assertEquals(0, service.shadows().list().size());
    }

    @Test
    void writerlessContextsSendNoEventsAndAFailingIdentifyDropsTheWriter() throws Exception {
        ScriptedWriter w = new ScriptedWriter("w", null, false);
        ScriptedWriter mute = new ScriptedWriter("mute", WriterEvent.IDENTIFY, false);
        service.writers().addBuiltin(w);
        service.writers().addBuiltin(mute);
        var crash = service.sessions().createSet(session(Context.NAS_ROLLBACK), List.of("a"), null);
        assertEquals(ShadowRecord.Consistency.CRASH, crash.copies().getFirst().consistency());
        assertEquals(List.of(), w.seen);
        service.sessions().createSet(session(Context.APP_ROLLBACK), List.of("a"), null);
        assertEquals(List.of("identify"), mute.seen, "a writer that fails identify takes no part");
    }

    @Test
    void limitsAndBadRequestsAreClearErrors() throws Exception {
        assertEquals(VssError.OBJECT_NOT_FOUND, assertThrows(ServiceException.class,
                () -> service.sessions().createSet(session(Context.BACKUP), List.of("zz"), null)).error());
        assertEquals(VssError.OBJECT_ALREADY_EXISTS, assertThrows(ServiceException.class,
                () -> service.sessions().createSet(session(Context.BACKUP), List.of("a", "a"), null)).error());
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 65; i++) {
            many.add("v" + i);
        }
        assertEquals(VssError.MAXIMUM_NUMBER_OF_VOLUMES_REACHED, assertThrows(ServiceException.class,
                () -> service.sessions().createSet(session(Context.BACKUP), many, null)).error());
        service.volumes().create(VolumeConfig.sparse("few", 8 << 20).withMaxShadowCopies(2));
        service.sessions().createSet(session(Context.NAS_ROLLBACK), List.of("few"), null);
        service.sessions().createSet(session(Context.NAS_ROLLBACK), List.of("few"), null);
        assertEquals(VssError.MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, assertThrows(ServiceException.class,
                () -> service.sessions().createSet(session(Context.NAS_ROLLBACK), List.of("few"), null)).error());
        for (Session s : service.sessions().list()) {
            service.sessions().release(s, "test");
        }
        for (int i = 0; i < SessionManager.MAX_SESSIONS; i++) {
            session(Context.BACKUP);
        }
        assertEquals(VssError.MAXIMUM_SESSIONS_REACHED, assertThrows(ServiceException.class,
                () -> session(Context.BACKUP)).error());
    }

    /** The engine decided to release a copy, the catalog recorded it, and a crash came before it was durable. */
    @Test
    void aReleaseACrashInterruptedIsFinishedAtStart() throws Exception {
        var id = service.sessions().createSet(session(Context.NAS_ROLLBACK), List.of("a"), null).copies().getFirst()
                .id();
        service.catalog().updateCopy(id, r -> r.withState(ShadowRecord.State.RELEASING));
        service.close();
        service = Service.start(service.config());
        assertEquals(0, service.volumes().get("a").shadowCopies().size(), "released means gone");
        assertTrue(service.shadows().list().isEmpty(), "not listed as missing");
        assertTrue(service.events().since(0, 2000).stream().anyMatch(e -> e.path("type").asText()
                .equals("reconcile-released-copy")));
    }

    @Test
    void aSetLeftCreatingByACrashIsUndoneAtStart() throws Exception {
        ShadowCopyId id = ShadowCopyId.random();
        service.volumes().get("a").createShadowCopy(id, true); // the engine made it ...
        service.catalog().putSet(new SetRecord(UUID.fromString("11111111-2222-3333-4444-555555555555"),
                SetRecord.State.CREATING, Instant.now(), "app-rollback", Map.of("a", id), null, null)); // ... then a crash
        ShadowCopyId stray = ShadowCopyId.random();
        service.volumes().get("b").createShadowCopy(stray, true); // in the engine, never catalogued
        service.close();
        service = Service.start(service.config());
        assertEquals(0, service.volumes().get("a").shadowCopies().size(), "the half-made set was deleted");
        assertTrue(service.catalog().sets().isEmpty());
        var untracked = service.shadows().get(stray.toString());
        assertEquals(ShadowRecord.State.UNTRACKED, untracked.state(), "kept and reported, not guessed");
        assertTrue(service.events().since(0, 2000).stream().anyMatch(e -> e.path("type").asText()
                .equals("reconcile-incomplete-set")));
    }
}
