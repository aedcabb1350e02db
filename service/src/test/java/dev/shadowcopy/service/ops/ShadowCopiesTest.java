package dev.shadowcopy.service.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link ShadowCopies}: finding copies as admins name them, deleting them, protection, revert. */
class ShadowCopiesTest extends ServiceFixture {
    final Instant nextYear = Instant.now().plusSeconds(365L * 86400);

    @Test
    void aCopyIsFoundByItsWholeIdWithOrWithoutBracesOrByAUniquePrefix() throws Exception {
        ShadowRecord c = copy("a", null);
        String id = c.id().toString();
        assertEquals(c.id(), service.shadows().get(id).id());
        assertEquals(c.id(), service.shadows().get("{" + id.toUpperCase() + "}").id());
        assertEquals(c.id(), service.shadows().get(id.substring(0, 8)).id());
    }

    @Test
    void somethingThatIsNoIdIsAnInvalidArgumentAndAnUnknownIdIsNotFound() throws Exception {
        copy("a", null);
        assertEquals(VssError.INVALID_ARGUMENT, assertThrows(ServiceException.class,
                () -> service.shadows().get("../etc")).error());
        assertEquals(VssError.OBJECT_NOT_FOUND, assertThrows(ServiceException.class,
                () -> service.shadows().get("00000000-0000-0000-0000-000000000000")).error());
    }

    @Test
    void aDeleteNamesExactlyOneOfCopySetVolumeOrAll() {
        var e = assertThrows(ServiceException.class, () -> service.shadows().delete(
                new ShadowCopies.Selector(null, null, "a", false, true)));
        assertEquals(VssError.INVALID_ARGUMENT, e.error());
    }

    @Test
    void theOldestOfAVolumeIsItsFirstCopyOnly() throws Exception {
        ShadowRecord first = copy("a", null);
        ShadowRecord second = copy("a", null);
        copy("b", null);
        var r = service.shadows().delete(new ShadowCopies.Selector(null, null, "a", true, false));
        assertEquals(List.of(first.id()), r.deleted());
        assertEquals(List.of(second.id()), service.shadows().list().stream().filter(c -> c.volume().equals("a"))
                .map(ShadowRecord::id).toList());
    }

    @Test
    void deletingEverythingKeepsTheProtectedCopiesAndSaysWhich() throws Exception {
        ShadowRecord kept = copy("a", nextYear);
        ShadowRecord gone = copy("b", null);
        var r = service.shadows().delete(new ShadowCopies.Selector(null, null, null, false, true));
        assertEquals(List.of(gone.id()), r.deleted());
        assertEquals(List.of(kept.id()), r.refused().stream().map(ShadowRecord::id).toList());
        assertTrue(logged("delete-refused"));
    }

    @Test
    void aDeleteOfOnlyProtectedCopiesIsRefusedAsProtected() throws Exception {
        ShadowRecord kept = copy("a", nextYear);
        var e = assertThrows(ServiceException.class, () -> service.shadows().delete(
                ShadowCopies.Selector.shadow(kept.id().toString())));
        assertEquals(VssError.PROTECTED, e.error());
        assertTrue(e.getMessage().contains(kept.id().toString()), e.getMessage());
        assertEquals(1, service.volumes().get("a").shadowCopies().size(), "the data is still there");
    }

    @Test
    void protectionCanBeExtendedButNeverShortened() throws Exception {
        ShadowRecord c = copy("a", nextYear);
        Instant later = nextYear.plusSeconds(86400);
        assertEquals(later, service.shadows().protect(c.id().toString(), later).protectUntil());
        var e = assertThrows(ServiceException.class, () -> service.shadows().protect(c.id().toString(), nextYear));
        assertEquals(VssError.PROTECTED, e.error());
        assertEquals(later, service.shadows().get(c.id().toString()).protectUntil());
    }

    @Test
    void revertDeletesTheCopiesTakenAfterTheTarget() throws Exception {
        ShadowRecord target = copy("a", null);
        copy("a", null);
        service.shadows().revert(target.id().toString(), false);
        assertEquals(List.of(target.id()), service.shadows().list().stream().map(ShadowRecord::id).toList());
        assertTrue(logged("volume-reverted"));
    }

    @Test
    void revertIsRefusedWhenItWouldDeleteAProtectedLaterCopy() throws Exception {
        ShadowRecord target = copy("a", null);
        ShadowRecord later = copy("a", nextYear);
        var e = assertThrows(ServiceException.class, () -> service.shadows().revert(target.id().toString(), false));
        assertEquals(VssError.PROTECTED, e.error());
        assertTrue(e.getMessage().contains(later.id().toString()), e.getMessage());
        assertEquals(2, service.shadows().list().size());
    }

    @Test
    void unexposingACopyThatIsNotExposedIsABadState() throws Exception {
        ShadowRecord c = copy("a", null);
        assertEquals(VssError.BAD_STATE, assertThrows(ServiceException.class,
                () -> service.shadows().unexpose(c.id().toString(), false)).error());
    }

    @Test
    void theCopiesOfASetAreFoundByAPrefixOfTheSetId() throws Exception {
        var set = service.sessions().createSet(session(dev.shadowcopy.service.sequence.Context.NAS_ROLLBACK),
                List.of("a", "b"), null);
        assertEquals(2, service.shadows().ofSet(set.set().id().toString().substring(0, 6)).size());
    }
}
