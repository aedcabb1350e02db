package dev.shadowcopy.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.platform.NoSpaceException;
import dev.shadowcopy.platform.OpenMode;
import dev.shadowcopy.platform.StorageFile;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The simulated disk itself must lose what real disks may lose, or the crash tests prove nothing. */
class SimulatedStorageTest {
    private static final Path DIR = Path.of("/d");

    private static byte[] read(StorageFile f, int n) throws IOException {
        var s = Segments.allocate(n);
        f.read(0, s);
        return Segments.bytes(s);
    }

    @Test
    void unsyncedWritesAreSometimesLostAndSyncedOnesNever() throws IOException {
        int lost = 0;
        for (int seed = 0; seed < 20; seed++) {
            SimulatedStorage disk = new SimulatedStorage(seed);
            disk.createDirectories(DIR);
            try (StorageFile f = disk.open(DIR.resolve("f"), OpenMode.CREATE)) {
                f.write(0, Segments.of(Segments.filled(8192, 1)));
                f.sync();
                disk.syncDirectory(DIR);
                f.write(0, Segments.of(Segments.filled(8192, 2)));
            }
            disk.crash();
            try (StorageFile f = disk.open(DIR.resolve("f"), OpenMode.READ)) {
                byte[] b = read(f, 8192);
                for (byte x : b) {
                    assertTrue(x == 1 || x == 2);
                }
                if (b[0] == 1 || b[4096] == 1) {
                    lost++;
                }
            }
        }
        assertTrue(lost > 0, "an unsynced overwrite never got lost in 20 crashes");
    }

    @Test
    void aNameIsOnlyDurableAfterItsDirectoryIsSynced() throws IOException {
        SimulatedStorage disk = new SimulatedStorage(1);
        disk.createDirectories(DIR);
        try (StorageFile f = disk.open(DIR.resolve("f"), OpenMode.CREATE)) {
            f.write(0, Segments.of(new byte[10]));
            f.sync();
        }
        disk.crash();
        assertFalse(disk.exists(DIR.resolve("f")));
    }

    @Test
    void handlesFromBeforeACrashAreDead() throws IOException {
        SimulatedStorage disk = new SimulatedStorage(1);
        disk.createDirectories(DIR);
        StorageFile f = disk.open(DIR.resolve("f"), OpenMode.CREATE);
        disk.crash();
        assertThrows(IOException.class, () -> f.write(0, Segments.of(new byte[1])));
    }

    @Test
    void theNthOperationFailsAndCapacityIsEnforced() throws IOException {
        SimulatedStorage disk = new SimulatedStorage(1);
        disk.createDirectories(DIR);
        try (StorageFile f = disk.open(DIR.resolve("f"), OpenMode.CREATE)) {
            disk.failAt(2);
            f.write(0, Segments.of(new byte[1]));
            assertThrows(IOException.class, f::sync);
            assertTrue(disk.faultFired());
            disk.setCapacity(8192);
            f.write(4096, Segments.of(new byte[4096]));
            assertThrows(NoSpaceException.class, () -> f.write(8192, Segments.of(new byte[1])));
            assertEquals(8192, f.size());
            assertArrayEquals(new byte[16], read(f, 16));
        }
    }
}
