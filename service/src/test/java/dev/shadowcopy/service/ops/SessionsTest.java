package dev.shadowcopy.service.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@link Sessions}: a requester's session from open to release, and what release takes with it. */
class SessionsTest extends ServiceFixture {
    @Test
    void releasingASessionDeletesItsAutoReleaseCopies() throws Exception {
        Session s = session(Context.BACKUP);
        service.sessions().createSet(s, List.of("a"), null);
        service.sessions().release(s, "test");
        assertTrue(service.shadows().list().isEmpty());
        assertEquals(Session.State.RELEASED, s.state());
    }

    @Test
    void aProtectedAutoReleaseCopyOutlivesItsSession() throws Exception {
        Session s = session(Context.BACKUP);
        service.sessions().createSet(s, List.of("a"), Instant.now().plusSeconds(3600));
        service.sessions().release(s, "test");
        assertEquals(1, service.shadows().list().size(), "protection wins over auto-release");
    }

    @Test
    void persistentCopiesStayWhenTheirSessionEnds() throws Exception {
        Session s = session(Context.APP_ROLLBACK);
        service.sessions().createSet(s, List.of("a"), null);
        service.sessions().release(s, "test");
        assertEquals(1, service.shadows().list().size());
    }

    @Test
    void aSessionMakesOneSet() throws Exception {
        Session s = session(Context.APP_ROLLBACK);
        service.sessions().createSet(s, List.of("a"), null);
        assertEquals(VssError.BAD_STATE, assertThrows(ServiceException.class,
                () -> service.sessions().createSet(s, List.of("b"), null)).error());
    }

    @Test
    void backupCompleteComesOnlyAfterASet() throws Exception {
        assertEquals(VssError.BAD_STATE, assertThrows(ServiceException.class,
                () -> service.sessions().backupComplete(session(Context.BACKUP))).error());
    }

    @Test
    void aReleasedSessionMakesNoSetAndReleasingAgainChangesNothing() throws Exception {
        Session s = session(Context.BACKUP);
        service.sessions().release(s, "test");
        service.sessions().release(s, "again");
        assertEquals(VssError.BAD_STATE, assertThrows(ServiceException.class,
                () -> service.sessions().createSet(s, List.of("a"), null)).error());
        assertEquals(VssError.OBJECT_NOT_FOUND, assertThrows(ServiceException.class,
                () -> service.sessions().get(s.id().toString())).error());
    }

    @Test
    void aSessionBoundToItsConnectionHasNoLeaseToRenew() throws Exception {
        assertEquals(VssError.BAD_STATE, assertThrows(ServiceException.class,
                () -> service.sessions().keepAlive(session(Context.BACKUP), 60L)).error());
    }

    @Test
    void aLeasedSessionEndsWhenItsLeaseRunsOutUnlessRenewed() throws Exception {
        Session s = service.sessions().open(Context.BACKUP, "full", Set.of(), Set.of(), "lease", Duration.ofSeconds(1));
        service.sessions().createSet(s, List.of("a"), null);
        Instant until = Instant.now().plusSeconds(15);
        while (s.state() != Session.State.RELEASED && Instant.now().isBefore(until)) {
            Thread.sleep(100);
        }
        assertEquals(Session.State.RELEASED, s.state(), "the reaper released it");
        assertTrue(service.shadows().list().isEmpty(), "with its auto-release copy");
    }

    @Test
    void aMalformedSessionIdIsAnInvalidArgument() {
        assertEquals(VssError.INVALID_ARGUMENT, assertThrows(ServiceException.class,
                () -> service.sessions().get("not-a-uuid")).error());
    }
}
