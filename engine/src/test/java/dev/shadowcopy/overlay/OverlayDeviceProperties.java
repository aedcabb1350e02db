package dev.shadowcopy.overlay;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.testing.MemoryDevice;
import dev.shadowcopy.testing.Segments;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** The overlay against a byte-array model: reads always show base-then-writes; the base never changes. */
class OverlayDeviceProperties {
    private static final int SIZE = 64 * 1024 + 1536;

    record Op(int kind, int offset, int length, int seed) {}

    @Provide
    Arbitrary<List<Op>> ops() {
        return Combinators.combine(Arbitraries.integers().between(0, 3), Arbitraries.integers().between(0, SIZE - 1),
                Arbitraries.integers().between(1, 3 * 4096), Arbitraries.integers())
                .as(Op::new).list().ofMaxSize(40);
    }

    @Property(tries = 300)
    void readsSeeTheBaseUnderTheWritesAndTheBaseIsUntouched(@ForAll("ops") List<Op> ops, @ForAll int baseSeed)
            throws IOException {
        byte[] baseBytes = Segments.random(SIZE, baseSeed);
        byte[] original = baseBytes.clone();
        byte[] model = baseBytes.clone();
        Path dir = Files.createTempDirectory("overlay");
        try (OverlayDevice o = OverlayDevice.create(new MemoryDevice(baseBytes, true), LocalStorage.INSTANCE,
                dir.resolve("overlay.img"), "overlay")) {
            for (Op op : ops) {
                int len = Math.min(op.length(), SIZE - op.offset());
                switch (op.kind()) {
                    case 0 -> {
                        byte[] data = Segments.random(len, op.seed());
                        o.write(op.offset(), Segments.of(data), false);
                        System.arraycopy(data, 0, model, op.offset(), len);
                    }
                    case 1 -> {
                        o.trim(op.offset(), len, false);
                        java.util.Arrays.fill(model, op.offset(), op.offset() + len, (byte) 0);
                    }
                    case 2 -> {
                        o.writeZeroes(op.offset(), len, false, false);
                        java.util.Arrays.fill(model, op.offset(), op.offset() + len, (byte) 0);
                    }
                    default -> {
                        MemorySegment s = Segments.allocate(len);
                        o.read(op.offset(), s);
                        assertArrayEquals(java.util.Arrays.copyOfRange(model, op.offset(), op.offset() + len),
                                Segments.bytes(s));
                    }
                }
            }
            MemorySegment all = Segments.allocate(SIZE);
            o.read(0, all);
            assertArrayEquals(model, Segments.bytes(all));
        } finally {
            Files.deleteIfExists(dir.resolve("overlay.img"));
            Files.deleteIfExists(dir);
        }
        assertArrayEquals(original, baseBytes, "the base was written");
    }
}
