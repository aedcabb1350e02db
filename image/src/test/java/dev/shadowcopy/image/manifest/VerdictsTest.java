package dev.shadowcopy.image.manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.shadowcopy.image.repository.Repository;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A verdict is kept with its point, encrypted like its manifest and bound to its name. */
class VerdictsTest {
    private static final String A = "20261206-020000-aaaa";
    private static final String B = "20261206-030000-bbbb";

    @TempDir
    Path dir;

    private Repository repository() throws IOException {
        Repository repo = Repository.init(dir.resolve("repo"), new Repository.InitOptions(64 << 10, 1,
                "secret".toCharArray(), 1000));
        return repo;
    }

    private static Verdicts.Verdict verdict(String id, boolean ok) {
        return new Verdicts.Verdict(Verdicts.Verdict.FORMAT, id, ok, "2026-12-06T02:00:00Z", 1.5, true, List.of(
                new Verdicts.Check("chunks", "re-hash", true, "every chunk hashes to its name"),
                new Verdicts.Check("file system of volume v", "e2fsck -f -n", ok, ok ? "ext4 clean" : "wrecked")));
    }

    @Test
    void aPointNeverVerifiedHasNoVerdict() throws IOException {
        assertNull(Verdicts.of(repository()).verdict(A));
    }

    @Test
    void theLastRecordedVerdictReadsBackWholeAfterReopening() throws IOException {
        Repository repo = repository();
        Verdicts.of(repo).record(verdict(A, true));
        Verdicts.of(repo).record(verdict(A, false));
        Verdicts.Verdict v = Verdicts.of(Repository.open(repo.root(), "secret".toCharArray())).verdict(A);
        assertEquals(verdict(A, false), v);
        assertEquals("file system of volume v: wrecked", v.firstProblem());
    }

    @Test
    void aVerdictCopiedToAnotherPointDoesNotDecode() throws IOException {
        Repository repo = repository();
        Verdicts.of(repo).record(verdict(A, true));
        Path verdicts = repo.root().resolve(Verdicts.DIR);
        Files.copy(verdicts.resolve(A), verdicts.resolve(B));
        assertThrows(IOException.class, () -> Verdicts.of(repo).verdict(B));
    }

    @Test
    void aDeletedVerdictIsGoneAndAVerdictWithoutItsPointIsAnOrphan() throws IOException {
        Repository repo = repository();
        Verdicts.of(repo).record(verdict(A, true));
        Verdicts.of(repo).record(verdict(B, true));
        assertEquals(List.of(B), Verdicts.of(repo).orphans(List.of(A)));
        Verdicts.of(repo).delete(B);
        assertNull(Verdicts.of(repo).verdict(B));
        assertEquals(List.of(), Verdicts.of(repo).orphans(List.of(A)));
    }
}
