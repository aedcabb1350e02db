package dev.shadowcopy.image.restore;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.shadowcopy.testing.MemoryDevice;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * A live restore against a byte-array model, on a simulated disk: guest writes, zeroes, reads and flushes
 * interleaved with the background copy, the death of the process (page cache kept, same boot) and power cuts
 * (unsynced sectors lost or torn, a new boot). After a process death every acknowledged write reads back exactly;
 * after a power cut every sector not written since the last flush reads exactly as at that flush (never the source's
 * data over a flushed write), and one written since as at the flush or as one of those writes left it. Once the copy
 * is done the target alone holds exactly what the guest sees.
 */
class LiveRestoreProperties {
    private static final int CHUNK = 4096;
    private static final int SIZE = 12 * CHUNK + 1536;
    private static final int TARGET_SIZE = SIZE + 2048;
    private static final int SECTOR = 512;
    private static final Path TARGET = Path.of("/sim/target.img");
    private static final Path DIR = Path.of("/sim/migration");

    record Op(int kind, int offset, int length, int seed) {}

    @Provide
    Arbitrary<List<Op>> ops() {
        return Combinators.combine(Arbitraries.integers().between(0, 8), Arbitraries.integers().between(0, TARGET_SIZE - 1),
                Arbitraries.integers().between(1, 3 * CHUNK), Arbitraries.integers())
                .as(Op::new).list().ofMaxSize(40);
    }

    @Property(tries = 300)
    void theGuestNeverLosesWhatWasAcknowledgedOrFlushed(@ForAll("ops") List<Op> ops, @ForAll int seed)
            throws Exception {
        byte[] sourceBytes = Segments.random(SIZE, seed);
        Arrays.fill(sourceBytes, 3 * CHUNK, 5 * CHUNK, (byte) 0); // zero chunks: zeroed, not read
        MemoryDevice source = new MemoryDevice(sourceBytes.clone(), true);
        SimulatedStorage storage = new SimulatedStorage(seed);
        storage.createDirectories(DIR);
        StorageDevice target = new StorageDevice(storage, TARGET, TARGET_SIZE, true);
        storage.syncDirectory(TARGET.getParent());
        UUID boot = UUID.randomUUID();
        LiveRestore live = LiveRestore.start(target, source, storage, DIR, CHUNK, boot, "live");
        byte[] model = new byte[TARGET_SIZE];
        System.arraycopy(sourceBytes, 0, model, 0, SIZE);
        byte[] flushed = model.clone();
        Map<Integer, List<byte[]>> sinceFlush = new HashMap<>();
        int copyFrom = 0;
        for (Op op : ops) {
            int len = Math.min(op.length(), TARGET_SIZE - op.offset());
            switch (op.kind()) {
                case 0, 1 -> {
                    byte[] data = Segments.random(len, op.seed());
                    live.write(op.offset(), Segments.of(data), op.seed() % 7 == 0);
                    System.arraycopy(data, 0, model, op.offset(), len);
                    remember(sinceFlush, model, op.offset(), len);
                    if (op.seed() % 7 == 0) { // FUA: flushed with everything before it
                        flushed = model.clone();
                        sinceFlush.clear();
                    }
                }
                case 2 -> {
                    live.writeZeroes(op.offset(), len, true, false);
                    Arrays.fill(model, op.offset(), op.offset() + len, (byte) 0);
                    remember(sinceFlush, model, op.offset(), len);
                }
                case 3 -> {
                    live.flush();
                    flushed = model.clone();
                    sinceFlush.clear();
                }
                case 4 -> { // the background copy does a few chunks
                    int[] left = {1 + Math.floorMod(op.seed(), 5)};
                    live.copy(copyFrom++ % 2, 2, LiveRestore.Pace.NONE, () -> left[0]-- <= 0);
                }
                case 5 -> { // the process dies: the page cache stays, the boot is the same
                    target = new StorageDevice(storage, TARGET, TARGET_SIZE, false);
                    live = LiveRestore.resume(target, source, storage, DIR, CHUNK, boot, "live");
                    assertArrayEquals(model, readAll(live), "after the death of the process, every acknowledged "
                            + "write is there");
                }
                case 6 -> { // power is lost: a new boot
                    storage.crash();
                    boot = UUID.randomUUID();
                    target = new StorageDevice(storage, TARGET, TARGET_SIZE, false);
                    live = LiveRestore.resume(target, source, storage, DIR, CHUNK, boot, "live");
                    byte[] after = readAll(live);
                    for (int sector = 0; sector * SECTOR < TARGET_SIZE; sector++) {
                        int from = sector * SECTOR;
                        int to = Math.min(TARGET_SIZE, from + SECTOR);
                        byte[] got = Arrays.copyOfRange(after, from, to);
                        boolean asFlushed = Arrays.equals(got, Arrays.copyOfRange(flushed, from, to));
                        boolean asWritten = sinceFlush.getOrDefault(sector, List.of()).stream()
                                .anyMatch(c -> Arrays.equals(c, got));
                        if (!asFlushed && !asWritten) {
                            throw new AssertionError("after a power cut, sector " + sector + " is neither as at the "
                                    + "last flush nor as a later write left it");
                        }
                    }
                    model = after;
                    flushed = after.clone();
                    sinceFlush.clear();
                }
                default -> {
                    MemorySegment s = Segments.allocate(len);
                    live.read(op.offset(), s);
                    assertArrayEquals(Arrays.copyOfRange(model, op.offset(), op.offset() + len), Segments.bytes(s));
                }
            }
        }
        live.copy(0, 1, LiveRestore.Pace.NONE, () -> false);
        assertArrayEquals(model, readAll(live));
        MemorySegment whole = Segments.allocate(TARGET_SIZE);
        target.read(0, whole);
        assertArrayEquals(model, Segments.bytes(whole), "the target alone is the volume the guest sees");
        live.close();
        live = LiveRestore.resume(new StorageDevice(storage, TARGET, TARGET_SIZE, false), source, storage, DIR, CHUNK,
                UUID.randomUUID(), "live");
        assert live.complete() : "complete after a flush survives a new boot";
        assertArrayEquals(sourceBytes, Segments.bytes(readSource(source)), "the source is never written");
    }

    @Property(tries = 30)
    void theCopyRacingGuestWritesNeverOverwritesOne(@ForAll int seed) throws Exception {
        byte[] sourceBytes = Segments.random(SIZE, seed);
        MemoryDevice source = new MemoryDevice(sourceBytes, true);
        SimulatedStorage storage = new SimulatedStorage(seed);
        storage.createDirectories(DIR);
        StorageDevice target = new StorageDevice(storage, TARGET, TARGET_SIZE, true);
        LiveRestore live = LiveRestore.start(target, source, storage, DIR, CHUNK, UUID.randomUUID(), "live");
        byte[] model = new byte[TARGET_SIZE];
        System.arraycopy(sourceBytes, 0, model, 0, SIZE);
        AtomicBoolean failed = new AtomicBoolean();
        List<Thread> copiers = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            int first = t;
            LiveRestore l = live;
            copiers.add(Thread.ofPlatform().start(() -> {
                try {
                    l.copy(first, 2, bytes -> Thread.onSpinWait(), () -> false);
                } catch (IOException | InterruptedException e) {
                    failed.set(true);
                }
            }));
        }
        java.util.Random r = new java.util.Random(seed);
        AtomicInteger writes = new AtomicInteger();
        for (int i = 0; i < 60; i++) {
            int off = r.nextInt(TARGET_SIZE - 1);
            int len = 1 + r.nextInt(Math.min(2 * CHUNK, TARGET_SIZE - off));
            byte[] data = Segments.random(len, r.nextLong());
            live.write(off, Segments.of(data), false);
            System.arraycopy(data, 0, model, off, len);
            writes.incrementAndGet();
        }
        for (Thread t : copiers) {
            t.join();
        }
        assert !failed.get();
        MemorySegment whole = Segments.allocate(TARGET_SIZE);
        target.read(0, whole);
        assertArrayEquals(model, Segments.bytes(whole), "no guest write was overwritten by the copy");
    }

    private static MemorySegment readSource(BlockDevice source) throws IOException {
        MemorySegment s = Segments.allocate(SIZE);
        source.read(0, s);
        return s;
    }

    private static void remember(Map<Integer, List<byte[]>> since, byte[] model, int off, int len) {
        for (int sector = off / SECTOR; sector * SECTOR < off + len; sector++) {
            int from = sector * SECTOR;
            since.computeIfAbsent(sector, k -> new ArrayList<>())
                    .add(Arrays.copyOfRange(model, from, Math.min(model.length, from + SECTOR)));
        }
    }

    private static byte[] readAll(LiveRestore l) throws IOException {
        MemorySegment s = Segments.allocate(TARGET_SIZE);
        l.read(0, s);
        return Segments.bytes(s);
    }
}
