package dev.shadowcopy.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.VolumeManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.params.ParameterizedTest;

/**
 * Shadow copies taken while another thread keeps writing: each copy must equal the volume after exactly k of
 * the writer's writes, for a k between the writes completed before the creation call and those completed
 * when it returned (a write is entirely before or entirely after the instant) — and must still be so after a
 * power loss right after the last creation.
 */
class ConcurrentWritesTest {
    private static final int CHUNK = 4096;
    private static final int SIZE = 64 * CHUNK;

    record Taken(ShadowCopyId id, int lo, int hi) {}

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> cases() {
        return java.util.stream.Stream.of(VolumeLayout.COPY_ON_WRITE, VolumeLayout.REDIRECT_ON_WRITE)
                .flatMap(l -> java.util.stream.LongStream.rangeClosed(1, 6).mapToObj(
                        s -> org.junit.jupiter.params.provider.Arguments.of(l, s)));
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @org.junit.jupiter.params.provider.MethodSource("cases")
    void copiesTakenDuringWritesAreExactPrefixesAndSurviveACrash(VolumeLayout layout, long seed) throws Exception {
        SimulatedStorage disk = new SimulatedStorage(seed);
        VolumeManager manager = VolumeManager.open(disk, Path.of("/state/volumes"), VolumeEvents.NONE,
                VolumeManager.Tuning.inline(1 << 16));
        ManagedVolume v = manager.create(VolumeConfig.sparse("vol", SIZE).withChunkSize(CHUNK).withLayout(layout));

        List<long[]> writes = java.util.Collections.synchronizedList(new ArrayList<>()); // {offset, length, seed}
        AtomicInteger completed = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> writerError = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            Random r = new Random(seed);
            try {
                while (!stop.get()) {
                    long off = r.nextInt(SIZE - 1);
                    int len = 1 + r.nextInt((int) Math.min(3 * CHUNK, SIZE - off));
                    int s = r.nextInt();
                    writes.add(new long[] {off, len, s});
                    v.write(off, Segments.of(Segments.random(len, s)), false);
                    completed.incrementAndGet();
                }
            } catch (Throwable t) {
                writerError.set(t);
            }
        }, "writer");
        writer.start();

        List<Taken> taken = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            int target = completed.get() + 20;
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (completed.get() < target && writerError.get() == null) {
                assertTrue(System.nanoTime() < deadline, "writer made no progress in 30 s");
                Thread.onSpinWait();
            }
            int lo = completed.get();
            ShadowCopyInfo info = v.createShadowCopy(ShadowCopyId.random(), true);
            int hi = completed.get() + 1; // a write in flight when the call returned may be before the instant
            taken.add(new Taken(info.id(), lo, hi));
        }
        stop.set(true);
        writer.join(30_000);
        if (writerError.get() != null) {
            throw new AssertionError("writer failed", writerError.get());
        }
        checkPrefixes(v, taken, writes, "before the crash");

        disk.crash();
        manager = VolumeManager.open(disk, Path.of("/state/volumes"), VolumeEvents.NONE,
                VolumeManager.Tuning.inline(1 << 16));
        ManagedVolume again = manager.get("vol");
        assertEquals(taken.size(), again.shadowCopies().size(), "every created copy survives the crash");
        checkPrefixes(again, taken, writes, "after the crash");
    }

    private static void checkPrefixes(ManagedVolume v, List<Taken> taken, List<long[]> writes, String when)
            throws Exception {
        for (Taken t : taken) {
            byte[] copy = VolumeModel.readCopy(v, t.id(), 0, SIZE);
            byte[] state = new byte[SIZE];
            int k = 0;
            for (; k < t.lo(); k++) {
                apply(state, writes.get(k));
            }
            boolean found = false;
            for (; k <= Math.min(t.hi(), writes.size()); k++) {
                if (Arrays.equals(state, copy)) {
                    found = true;
                    break;
                }
                if (k < writes.size()) {
                    apply(state, writes.get(k));
                }
            }
            if (!found) {
                fail("shadow copy " + t.id() + " " + when + " is not the volume after any k of the writer's writes in ["
                        + t.lo() + ", " + t.hi() + "]");
            }
        }
    }

    private static void apply(byte[] state, long[] w) {
        byte[] data = Segments.random((int) w[1], (int) w[2]);
        System.arraycopy(data, 0, state, (int) w[0], data.length);
    }
}
