package dev.shadowcopy.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.shadowcopy.platform.CloneUnsupportedException;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What every {@link Storage} promises (STYLE 16: one conformance suite, each implementation's test extends it). The
 * durability half ({@link #crash}) runs only where a crash can be simulated; the real file system is crash-tested
 * from the other side by the kill -9 tests.
 */
public abstract class StorageContract {
    protected Storage storage;
    protected Path dir;

    /** A fresh, empty storage for one test. */
    protected abstract Storage newStorage() throws IOException;

    /** An existing directory of {@link #newStorage()} to work in. */
    protected abstract Path workDirectory() throws IOException;

    /** Whether {@link Storage#clone} shares extents here (false: it must refuse with nothing changed). */
    protected abstract boolean canClone();

    /** Whether {@link #crash} can simulate a power loss on this storage. */
    protected boolean canCrash() {
        return false;
    }

    /** Forgets everything not durable, as a power loss would. */
    protected void crash() {
        throw new UnsupportedOperationException();
    }

    @BeforeEach
    void setUpStorage() throws IOException {
        storage = newStorage();
        dir = workDirectory();
    }

    private byte[] readAll(Path p) throws IOException {
        return storage.readAll(p);
    }

    private void write(Path p, OpenMode mode, long at, byte[] data, boolean sync) throws IOException {
        try (StorageFile f = storage.open(p, mode)) {
            f.write(at, Segments.of(data));
            if (sync) {
                f.sync();
            }
        }
    }

    @Test
    void writtenBytesReadBackAndTheTailOfASparseFileReadsAsZeros() throws IOException {
        Path p = dir.resolve("a");
        write(p, OpenMode.CREATE_NEW, 8192, Segments.filled(100, 7), false);
        try (StorageFile f = storage.open(p, OpenMode.READ)) {
            assertEquals(8292, f.size());
            var s = Segments.allocate(9000);
            f.read(0, s);
            byte[] b = Segments.bytes(s);
            assertEquals(0, b[0]);
            assertEquals(7, b[8192]);
            assertEquals(7, b[8291]);
            assertEquals(0, b[8292], "beyond the end of a regular file reads as zeros");
            assertFalse(f.isBlockDevice());
        }
    }

    @Test
    void anUncachedReadReadsWhatAReadDoesAlignedOrNotDirtyOrNotAndAtTheEnd() throws IOException {
        Path p = dir.resolve("u");
        byte[] data = new byte[3 * 65536 + 1000];
        new java.util.Random(16).nextBytes(data);
        write(p, OpenMode.CREATE_NEW, 0, data, true);
        try (StorageFile f = storage.open(p, OpenMode.READ_WRITE); Arena arena = Arena.ofConfined()) {
            // dirty in the page cache, not yet written back: a direct read must see it
            byte[] dirty = new byte[8192];
            java.util.Arrays.fill(dirty, (byte) 0x5a);
            f.write(65536, Segments.of(dirty));
            System.arraycopy(dirty, 0, data, 65536, dirty.length);
            long[][] ranges = {{0, 65536}, {65536, 65536}, {4096, 8192}, {100, 5000}, {131072, 65536 + 1000},
                    {131072, 131072}, {0, data.length + 3000}};
            for (long[] r : ranges) {
                MemorySegment aligned = arena.allocate(r[1], 4096);
                f.readUncached(r[0], aligned);
                byte[] want = new byte[(int) r[1]];
                System.arraycopy(data, (int) r[0], want, 0, (int) Math.max(0, Math.min(r[1], data.length - r[0])));
                assertArrayEquals(want, Segments.bytes(aligned), "uncached read of [" + r[0] + ", +" + r[1] + ")");
                MemorySegment odd = arena.allocate(r[1] + 1, 4096).asSlice(1); // a buffer not aligned: same bytes
                f.readUncached(r[0], odd);
                assertArrayEquals(want, Segments.bytes(odd));
            }
        }
    }

    @Test
    void openingAMissingFileOrCreatingAnExistingOneNewFails() throws IOException {
        assertThrows(NoSuchFileException.class, () -> storage.open(dir.resolve("missing"), OpenMode.READ));
        write(dir.resolve("b"), OpenMode.CREATE_NEW, 0, new byte[1], false);
        assertThrows(FileAlreadyExistsException.class, () -> storage.open(dir.resolve("b"), OpenMode.CREATE_NEW));
    }

    @Test
    void punchedAndZeroedRangesReadAsZerosAndKeepTheSize() throws IOException {
        Path p = dir.resolve("c");
        write(p, OpenMode.CREATE_NEW, 0, Segments.filled(3 * 4096, 9), false);
        try (StorageFile f = storage.open(p, OpenMode.READ_WRITE)) {
            f.punchHole(4096, 4096);
            f.zeroRange(0, 100);
            assertEquals(3 * 4096, f.size());
            byte[] b = Segments.bytes(readAt(f, 0, 3 * 4096));
            assertEquals(0, b[0]);
            assertEquals(9, b[100]);
            assertEquals(0, b[4096]);
            assertEquals(0, b[8191]);
            assertEquals(9, b[8192]);
            f.truncate(4096);
            assertEquals(4096, f.size());
        }
    }

    private static java.lang.foreign.MemorySegment readAt(StorageFile f, long at, int n) throws IOException {
        var s = Segments.allocate(n);
        f.read(at, s);
        return s;
    }

    @Test
    void holesAndDataAreReportedWhereTheFileSystemKnowsThem() throws IOException {
        Path p = dir.resolve("d");
        try (StorageFile f = storage.open(p, OpenMode.CREATE_NEW)) {
            f.truncate(1 << 20);
            f.write(512 << 10, Segments.of(Segments.filled(4096, 1)));
            long data = f.nextData(0);
            assertTrue(data >= 0 && data <= 512 << 10, "data at " + data);
            long hole = f.nextHole(512 << 10);
            assertTrue(hole > 512 << 10 && hole <= 1 << 20, "hole at " + hole);
        }
    }

    @Test
    void publishReplacesTheWholeFileAndLeavesNoTemporary() throws IOException {
        Path p = dir.resolve("published");
        storage.publish(p, new byte[] {1, 2, 3});
        storage.publish(p, new byte[] {4, 5});
        assertArrayEquals(new byte[] {4, 5}, readAll(p));
        assertEquals(List.of("published"), storage.list(dir));
    }

    @Test
    void renameReplacesTheTargetAndListIsSortedByName() throws IOException {
        write(dir.resolve("z"), OpenMode.CREATE_NEW, 0, new byte[] {1}, false);
        write(dir.resolve("y"), OpenMode.CREATE_NEW, 0, new byte[] {2}, false);
        storage.rename(dir.resolve("z"), dir.resolve("y"));
        assertArrayEquals(new byte[] {1}, readAll(dir.resolve("y")));
        write(dir.resolve("m"), OpenMode.CREATE_NEW, 0, new byte[] {3}, false);
        storage.createDirectories(dir.resolve("sub/deeper"));
        assertEquals(List.of("m", "sub", "y"), storage.list(dir));
        assertTrue(storage.isDirectory(dir.resolve("sub/deeper")));
        assertFalse(storage.isDirectory(dir.resolve("m")));
    }

    @Test
    void deletingAMissingFileIsNoError() throws IOException {
        storage.delete(dir.resolve("never"));
        write(dir.resolve("e"), OpenMode.CREATE_NEW, 0, new byte[1], false);
        storage.delete(dir.resolve("e"));
        assertFalse(storage.exists(dir.resolve("e")));
    }

    @Test
    void aCloneIsAnIndependentCopyOfContentAndSize() throws IOException {
        assumeTrue(canClone(), "this storage cannot share extents");
        Path src = dir.resolve("src");
        write(src, OpenMode.CREATE_NEW, 0, Segments.random(64 << 10, 1), true);
        storage.clone(src, dir.resolve("copy"));
        assertArrayEquals(readAll(src), readAll(dir.resolve("copy")));
        write(src, OpenMode.READ_WRITE, 0, Segments.filled(4096, 5), false);
        write(dir.resolve("copy"), OpenMode.READ_WRITE, 8192, Segments.filled(4096, 6), false);
        byte[] s = readAll(src);
        byte[] c = readAll(dir.resolve("copy"));
        assertEquals(5, s[0]);
        assertEquals(Segments.random(64 << 10, 1)[0], c[0], "a write to the source shows in the clone");
        assertEquals(6, c[8192]);
        assertEquals(Segments.random(64 << 10, 1)[8192], s[8192], "a write to the clone shows in the source");
    }

    @Test
    void aCloneReplacesAnExistingTargetSeenThroughItsOpenHandle() throws IOException {
        assumeTrue(canClone(), "this storage cannot share extents");
        Path src = dir.resolve("src");
        Path target = dir.resolve("target");
        write(src, OpenMode.CREATE_NEW, 0, Segments.filled(8192, 3), true);
        write(target, OpenMode.CREATE_NEW, 0, Segments.filled(3 * 8192, 4), true);
        try (StorageFile open = storage.open(target, OpenMode.READ_WRITE)) {
            storage.clone(src, target);
            assertEquals(8192, open.size());
            assertArrayEquals(Segments.filled(8192, 3), Segments.bytes(readAt(open, 0, 8192)));
        }
    }

    @Test
    void aCloneTheFileSystemCannotMakeIsRefusedWithNothingChanged() throws IOException {
        assumeFalse(canClone(), "this storage shares extents");
        Path src = dir.resolve("src");
        write(src, OpenMode.CREATE_NEW, 0, Segments.filled(4096, 3), true);
        assertThrows(CloneUnsupportedException.class, () -> storage.clone(src, dir.resolve("copy")));
        assertFalse(storage.exists(dir.resolve("copy")));
    }

    @Test
    void syncFileSystemAcceptsAFileOrADirectory() throws IOException {
        write(dir.resolve("f"), OpenMode.CREATE_NEW, 0, new byte[1], false);
        storage.syncFileSystem(dir);
        storage.syncFileSystem(dir.resolve("f"));
    }

    // ---------------------------------------------------------------- durability (simulated crashes)

    @Test
    void aSyncedFileInASyncedDirectorySurvivesACrash() throws IOException {
        assumeTrue(canCrash(), "no simulated crash here");
        write(dir.resolve("kept"), OpenMode.CREATE_NEW, 0, Segments.filled(4096, 8), true);
        storage.syncDirectory(dir);
        crash();
        assertArrayEquals(Segments.filled(4096, 8), readAll(dir.resolve("kept")));
    }

    @Test
    void aPublishedFileSurvivesACrashWholeOldOrNew() throws IOException {
        assumeTrue(canCrash(), "no simulated crash here");
        storage.publish(dir.resolve("p"), Segments.filled(5000, 1));
        crash();
        assertArrayEquals(Segments.filled(5000, 1), readAll(dir.resolve("p")));
    }

    @Test
    void syncFileSystemMakesEveryFileAndNameDurable() throws IOException {
        assumeTrue(canCrash(), "no simulated crash here");
        write(dir.resolve("one"), OpenMode.CREATE_NEW, 0, Segments.filled(4096, 1), false);
        write(dir.resolve("two"), OpenMode.CREATE_NEW, 0, Segments.filled(4096, 2), false);
        storage.syncFileSystem(dir);
        crash();
        assertArrayEquals(Segments.filled(4096, 1), readAll(dir.resolve("one")));
        assertArrayEquals(Segments.filled(4096, 2), readAll(dir.resolve("two")));
    }

    @Test
    void aSyncedCloneUnderASyncedNameSurvivesACrash() throws IOException {
        assumeTrue(canCrash() && canClone(), "no simulated crash or no clones here");
        write(dir.resolve("src"), OpenMode.CREATE_NEW, 0, Segments.filled(4096, 9), true);
        storage.syncDirectory(dir);
        storage.clone(dir.resolve("src"), dir.resolve("clone"));
        try (StorageFile f = storage.open(dir.resolve("clone"), OpenMode.READ_WRITE)) {
            f.sync();
        }
        storage.syncDirectory(dir);
        crash();
        assertArrayEquals(Segments.filled(4096, 9), readAll(dir.resolve("clone")));
    }
}
