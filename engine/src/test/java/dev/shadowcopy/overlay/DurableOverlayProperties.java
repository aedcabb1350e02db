package dev.shadowcopy.overlay;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.shadowcopy.testing.MemoryDevice;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * A durable overlay (what an exposed copy is attached through) against a byte-array model, with power cuts
 * ({@link SimulatedStorage#crash}: unsynced writes lost or torn at sector granularity): after a crash every
 * sector not written since the last flush reads exactly as at that flush — never a block whose data was lost
 * under a map entry that survived — and a sector written since reads as at the flush or as one of those
 * writes left it, as a disk would. The base is never written.
 */
class DurableOverlayProperties {
    private static final int SIZE = 64 * 1024 + 1536;
    private static final Path DATA = Path.of("/sim/overlay.img");
    private static final Path MAP = Path.of("/sim/overlay.map");

    record Op(int kind, int offset, int length, int seed) {}

    @Provide
    Arbitrary<List<Op>> ops() {
        return Combinators.combine(Arbitraries.integers().between(0, 5), Arbitraries.integers().between(0, SIZE - 1),
                Arbitraries.integers().between(1, 3 * 4096), Arbitraries.integers())
                .as(Op::new).list().ofMaxSize(40);
    }

    @Property(tries = 300)
    void aCrashShowsTheLastFlushExactly(@ForAll("ops") List<Op> ops, @ForAll int baseSeed) throws IOException {
        byte[] baseBytes = Segments.random(SIZE, baseSeed);
        byte[] original = baseBytes.clone();
        byte[] model = baseBytes.clone();
        byte[] flushed = baseBytes.clone();
        java.util.Map<Integer, java.util.List<byte[]>> sinceFlush = new java.util.HashMap<>();
        MemoryDevice base = new MemoryDevice(baseBytes, true);
        SimulatedStorage storage = new SimulatedStorage(baseSeed);
        storage.createDirectories(DATA.getParent());
        OverlayDevice o = OverlayDevice.createDurable(base, storage, DATA, MAP, "overlay");
        for (Op op : ops) {
            int len = Math.min(op.length(), SIZE - op.offset());
            switch (op.kind()) {
                case 0, 1 -> {
                    byte[] data = Segments.random(len, op.seed());
                    o.write(op.offset(), Segments.of(data), false);
                    System.arraycopy(data, 0, model, op.offset(), len);
                    remember(sinceFlush, model, op.offset(), len);
                }
                case 2 -> {
                    o.trim(op.offset(), len, false);
                    Arrays.fill(model, op.offset(), op.offset() + len, (byte) 0);
                    remember(sinceFlush, model, op.offset(), len);
                }
                case 3 -> {
                    o.flush();
                    flushed = model.clone();
                    sinceFlush.clear();
                }
                case 4 -> { // power cut, then the next run reopens it
                    storage.crash();
                    o = OverlayDevice.openDurable(base, storage, DATA, MAP, "overlay");
                    byte[] after = readAll(o);
                    for (int sector = 0; sector * SECTOR < SIZE; sector++) {
                        int from = sector * SECTOR;
                        int to = Math.min(SIZE, from + SECTOR);
                        byte[] got = Arrays.copyOfRange(after, from, to);
                        boolean asFlushed = Arrays.equals(got, Arrays.copyOfRange(flushed, from, to));
                        boolean asWritten = sinceFlush.getOrDefault(sector, List.of()).stream()
                                .anyMatch(c -> Arrays.equals(c, got));
                        if (!asFlushed && !asWritten) {
                            throw new AssertionError("after a crash, sector " + sector + " is neither as at the last "
                                    + "flush nor as a later write left it" + (sinceFlush.containsKey(sector) ? ""
                                    : " (it was not written since the flush: its data was lost under the map)"));
                        }
                    }
                    model = after;
                    flushed = after.clone();
                    sinceFlush.clear();
                }
                default -> {
                    MemorySegment s = Segments.allocate(len);
                    o.read(op.offset(), s);
                    assertArrayEquals(Arrays.copyOfRange(model, op.offset(), op.offset() + len), Segments.bytes(s));
                }
            }
        }
        assertArrayEquals(model, readAll(o));
        assertArrayEquals(original, baseBytes, "the base is never written");
        o.discard();
    }

    private static final int SECTOR = 512;

    /** Records what each sector of {@code [off, off + len)} holds now, as a value a crash may leave. */
    private static void remember(java.util.Map<Integer, java.util.List<byte[]>> since, byte[] model, int off, int len) {
        for (int sector = off / SECTOR; sector * SECTOR < off + len; sector++) {
            int from = sector * SECTOR;
            since.computeIfAbsent(sector, k -> new java.util.ArrayList<>())
                    .add(Arrays.copyOfRange(model, from, Math.min(model.length, from + SECTOR)));
        }
    }

    private static byte[] readAll(OverlayDevice o) throws IOException {
        MemorySegment s = Segments.allocate(SIZE);
        o.read(0, s);
        return Segments.bytes(s);
    }
}
