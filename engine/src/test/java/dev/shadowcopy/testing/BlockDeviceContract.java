package dev.shadowcopy.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.OutOfRangeException;
import dev.shadowcopy.device.ReadOnlyException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What every {@link BlockDevice} promises (its Javadoc is the specification; STYLE 16): ranges checked before any
 * byte is touched, writes visible to later reads, zeroing and trimming read as zeros, allocation maps that cover the
 * range exactly, refusals of read-only devices, and concurrent writes that all land. Each implementation's test
 * extends this with {@link #open()}; modules other than the engine reach it through the engine's test jar.
 */
public abstract class BlockDeviceContract {
    /** The device under test. */
    protected BlockDevice device;

    /**
     * A fresh device for one test: at least 64 KiB, any size that is a multiple of 512. A writable one may hold
     * anything at first; a read-only one holds {@link #expectedContent()}.
     */
    protected abstract BlockDevice open() throws IOException;

    /** What a read-only device reads as (null: not known, content is not checked). */
    protected byte[] expectedContent() {
        return null;
    }

    /** Releases what {@link #open()} made (default: close the device if it is closeable). */
    protected void close(BlockDevice d) throws Exception {
        if (d instanceof AutoCloseable c) {
            c.close();
        }
    }

    @BeforeEach
    void openDevice() throws IOException {
        device = open();
    }

    @AfterEach
    void closeDevice() throws Exception {
        close(device);
    }

    private byte[] read(long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        device.read(offset, s);
        return Segments.bytes(s);
    }

    private byte[] readAll() throws IOException {
        return read(0, Math.toIntExact(device.size()));
    }

    // ---------------------------------------------------------------- every device

    @Test
    void theSizeIsAPositiveMultipleOf512AndStaysTheSame() throws IOException {
        long size = device.size();
        assertTrue(size > 0 && size % 512 == 0, "size " + size);
        readAll();
        assertEquals(size, device.size());
        assertTrue(device.preferredBlockSize() >= 512 && Integer.bitCount(device.preferredBlockSize()) == 1,
                "preferred block size " + device.preferredBlockSize());
        assertTrue(device.name() != null && !device.name().isBlank());
    }

    @Test
    void aReadOfTheWholeDeviceMatchesWhatItHolds() throws IOException {
        byte[] expected = expectedContent();
        assumeTrue(expected != null, "the content of this device is not known to the test");
        assertArrayEquals(expected, readAll());
    }

    @Test
    void requestsOutsideTheDeviceAreRefusedBeforeAnyByteIsTouched() throws IOException {
        long size = device.size();
        assertThrows(OutOfRangeException.class, () -> device.read(size - 512, Segments.allocate(1024)));
        assertThrows(OutOfRangeException.class, () -> device.read(-1, Segments.allocate(1)));
        assertThrows(OutOfRangeException.class, () -> device.mapAllocation(size, 1, (o, l, f) -> true));
        device.read(size, Segments.allocate(0)); // an empty request at the end is inside
        if (!device.isReadOnly()) {
            byte[] before = readAll();
            assertThrows(OutOfRangeException.class, () -> device.write(size - 512, Segments.of(new byte[1024]), false));
            assertThrows(OutOfRangeException.class, () -> device.writeZeroes(size - 1, 2, true, false));
            assertThrows(OutOfRangeException.class, () -> device.trim(Long.MAX_VALUE - 10, 20, false));
            assertArrayEquals(before, readAll(), "a refused request changed the device");
        }
    }

    @Test
    void theAllocationMapCoversTheRangeExactlyInOrderAndHolesReadAsZeros() throws IOException {
        if (!device.isReadOnly()) {
            device.write(8192, Segments.of(Segments.random(12_000, 3)), false);
            device.writeZeroes(32 << 10, 16 << 10, true, false);
        }
        long offset = 512;
        long length = device.size() - 1024;
        List<long[]> extents = new ArrayList<>();
        device.mapAllocation(offset, length, (o, l, f) -> {
            extents.add(new long[] {o, l, f});
            return true;
        });
        long pos = offset;
        for (long[] e : extents) {
            assertEquals(pos, e[0], "extents must be contiguous from the requested offset");
            assertTrue(e[1] > 0, "empty extent at " + e[0]);
            assertEquals(0, e[2] & ~(BlockDevice.EXTENT_HOLE | BlockDevice.EXTENT_ZERO), "unknown flags");
            if ((e[2] & BlockDevice.EXTENT_ZERO) != 0) {
                assertArrayEquals(new byte[(int) e[1]], read(e[0], (int) e[1]), "an extent flagged zero is not");
            }
            pos += e[1];
        }
        assertEquals(offset + length, pos, "the extents must cover the range exactly");
    }

    @Test
    void aVisitorThatSaysStopIsNotCalledAgain() throws IOException {
        int[] calls = {0};
        device.mapAllocation(0, device.size(), (o, l, f) -> {
            calls[0]++;
            return false;
        });
        assertEquals(1, calls[0]);
    }

    // ---------------------------------------------------------------- read-only devices

    @Test
    void aReadOnlyDeviceRefusesEveryChangeAndStaysAsItWas() throws IOException {
        assumeTrue(device.isReadOnly(), "a writable device");
        byte[] before = readAll();
        assertThrows(ReadOnlyException.class, () -> device.write(0, Segments.of(new byte[512]), false));
        assertThrows(ReadOnlyException.class, () -> device.trim(0, 512, false));
        assertThrows(ReadOnlyException.class, () -> device.writeZeroes(0, 512, false, false));
        assertArrayEquals(before, readAll());
    }

    // ---------------------------------------------------------------- writable devices

    @Test
    void writesAtAnyOffsetAndLengthReadBackAndTheLastOneWins() throws IOException {
        assumeFalse(device.isReadOnly(), "a read-only device");
        device.write(1000, Segments.of(Segments.filled(5000, 1)), false);
        device.write(3000, Segments.of(Segments.filled(100, 2)), true);
        byte[] b = read(0, 8192);
        assertEquals(1, b[1000]);
        assertEquals(2, b[3000]);
        assertEquals(2, b[3099]);
        assertEquals(1, b[3100]);
        assertEquals(1, b[5999]);
        device.flush();
        assertArrayEquals(b, read(0, 8192), "a flush changed what reads return");
    }

    @Test
    void zeroedAndTrimmedRangesReadAsZerosAndNothingAroundThemChanges() throws IOException {
        assumeFalse(device.isReadOnly(), "a read-only device");
        device.write(0, Segments.of(Segments.filled(48 << 10, 7)), false);
        device.writeZeroes(4096, 4096, true, false);
        device.writeZeroes(10_000, 1000, false, true);
        device.trim(16 << 10, 8 << 10, false);
        byte[] b = read(0, 48 << 10);
        for (int i = 0; i < b.length; i++) {
            boolean zeroed = (i >= 4096 && i < 8192) || (i >= 10_000 && i < 11_000) || (i >= 16 << 10 && i < 24 << 10);
            assertEquals(zeroed ? 0 : 7, b[i], "byte " + i);
        }
    }

    @Test
    void randomChangesMatchAByteArrayModel() throws IOException {
        assumeFalse(device.isReadOnly(), "a read-only device");
        int size = (int) Math.min(device.size(), 1 << 20);
        byte[] model = read(0, size);
        Random r = new Random(17);
        for (int i = 0; i < 200; i++) {
            int off = r.nextInt(size - 1);
            int len = 1 + r.nextInt(Math.min(size - off, 70_000));
            switch (r.nextInt(4)) {
                case 0, 1 -> {
                    byte[] data = Segments.random(len, i);
                    device.write(off, Segments.of(data), r.nextBoolean());
                    System.arraycopy(data, 0, model, off, len);
                }
                case 2 -> {
                    device.writeZeroes(off, len, r.nextBoolean(), false);
                    java.util.Arrays.fill(model, off, off + len, (byte) 0);
                }
                default -> {
                    device.trim(off, len, false);
                    java.util.Arrays.fill(model, off, off + len, (byte) 0);
                }
            }
            if (i % 20 == 0) {
                device.flush();
                assertArrayEquals(model, read(0, size), "after " + (i + 1) + " changes");
            }
        }
        assertArrayEquals(model, read(0, size));
    }

    @Test
    void concurrentWritesToDifferentRangesAllLand() throws Exception {
        assumeFalse(device.isReadOnly(), "a read-only device");
        int threads = 4;
        int piece = (int) Math.min(device.size() / threads, 256 << 10) / 4096 * 4096;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int base = t * piece;
                int seed = t;
                done.add(pool.submit(() -> {
                    for (int off = 0; off < piece; off += 4096) {
                        device.write(base + off, Segments.of(Segments.random(4096, seed * 1000L + off)), false);
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        for (int t = 0; t < threads; t++) {
            for (int off = 0; off < piece; off += 4096) {
                assertArrayEquals(Segments.random(4096, t * 1000L + off), read((long) t * piece + off, 4096));
            }
        }
    }
}
