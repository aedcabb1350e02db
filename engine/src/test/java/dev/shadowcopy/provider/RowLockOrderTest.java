package dev.shadowcopy.provider;

import static dev.shadowcopy.testing.Segments.bytes;
import static dev.shadowcopy.testing.Segments.filled;
import static dev.shadowcopy.testing.Segments.of;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Redirect-on-write takes {@code roomLock} before {@code commitLock}, on every path. A flush (which holds the commit
 * lock while it appends the queued records) and a first write (which makes room when its TOUCH record does not fit)
 * both hitting a full journal used to take them in opposite orders and deadlock.
 */
class RowLockOrderTest {
    private static final int CHUNK = 4096;
    private static final Path STATE = Path.of("/state/volumes");

    @Test
    void aFlushAndAFirstWriteHittingAFullJournalTogetherBothFinish() throws Exception {
        SimulatedStorage disk = new SimulatedStorage(16);
        VolumeManager manager = VolumeManager.open(disk, STATE, VolumeEvents.NONE,
                VolumeManager.Tuning.inline(64 << 20));
        ManagedVolume v = manager.create(VolumeConfig.sparse("row", 64 * CHUNK).withChunkSize(CHUNK)
                .withLayout(VolumeLayout.REDIRECT_ON_WRITE));
        v.write(0, of(filled(4 * CHUNK, 'a')), true);
        ShadowCopyInfo kept = v.createShadowCopy(ShadowCopyId.random(), true);
        v.write(CHUNK, of(filled(CHUNK, 'x')), true); // chunk 1 redirected in epoch 1
        ShadowCopyInfo gone = v.createShadowCopy(ShadowCopyId.random(), true);
        v.deleteShadowCopy(gone.id()); // epoch 2: chunk 1 is now written in place, with a TOUCH first
        v.write(2 * CHUNK, of(filled(CHUNK, 'y')), false); // chunk 2 redirected: its LIVE record waits for a commit

        Thread[] writer = new Thread[1];
        CountDownLatch flushHoldsItsLocks = new CountDownLatch(1);
        // The flush pauses in its data sync, holding what a commit holds, until the first write is blocked.
        disk.beforeNextSync(p -> p.getFileName().toString().equals("data.img"), () -> {
            flushHoldsItsLocks.countDown();
            awaitBlocked(() -> writer[0]);
        });
        // The writer's TOUCH and then the flush's queued records find the journal full.
        disk.noSpaceOnWrites(p -> p.getFileName().toString().startsWith("journal-"), 2);

        AtomicReference<Throwable> flushFailure = new AtomicReference<>();
        AtomicReference<Throwable> writeFailure = new AtomicReference<>();
        Thread flusher = Thread.ofPlatform().daemon().name("flush").start(() -> run(v::flush, flushFailure));
        assertTrue(flushHoldsItsLocks.await(20, TimeUnit.SECONDS), "the flush did not reach its data sync");
        writer[0] = Thread.ofPlatform().daemon().name("first-write").start(() ->
                run(() -> v.write(CHUNK, of(filled(CHUNK, 'w')), false), writeFailure));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (flusher.isAlive() || writer[0].isAlive()) {
            if (ManagementFactory.getThreadMXBean().findDeadlockedThreads() != null || System.nanoTime() > end) {
                fail("the flush and the first write did not finish: " + deadlockReport());
            }
            flusher.join(10);
        }
        assertNull(flushFailure.get(), () -> "flush failed: " + flushFailure.get());
        assertNull(writeFailure.get(), () -> "write failed: " + writeFailure.get());

        v.flush();
        disk.crash();
        manager = VolumeManager.open(disk, STATE, VolumeEvents.NONE, VolumeManager.Tuning.inline(64 << 20));
        ManagedVolume after = manager.get("row");
        assertArrayEquals(filled(CHUNK, 'w'), read(after, CHUNK), "the first write is durable");
        assertArrayEquals(filled(CHUNK, 'y'), read(after, 2 * CHUNK), "the flushed write is durable");
        assertTrue(after.shadowCopies().stream().noneMatch(c -> c.id().equals(kept.id())),
                "the full journal released the copy to make room");
        manager.close();
    }

    private interface Io {
        void run() throws Exception;
    }

    private static void run(Io io, AtomicReference<Throwable> failure) {
        try {
            io.run();
        } catch (Throwable e) {
            failure.set(e);
        }
    }

    private static byte[] read(ManagedVolume v, long offset) throws Exception {
        MemorySegment s = Segments.allocate(CHUNK);
        v.read(offset, s);
        return bytes(s);
    }

    /** Waits (bounded) until the thread exists and is parked or done. */
    private static void awaitBlocked(java.util.function.Supplier<Thread> thread) {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < end) {
            Thread t = thread.get();
            if (t != null && (t.getState() == Thread.State.WAITING || t.getState() == Thread.State.TIMED_WAITING
                    || t.getState() == Thread.State.BLOCKED || t.getState() == Thread.State.TERMINATED)) {
                return;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
    }

    private static String deadlockReport() {
        var bean = ManagementFactory.getThreadMXBean();
        long[] ids = bean.findDeadlockedThreads();
        if (ids == null) {
            return "no deadlock found by the JVM";
        }
        StringBuilder b = new StringBuilder("deadlock:");
        for (ThreadInfo i : bean.getThreadInfo(ids, true, true)) {
            b.append("\n  ").append(i.getThreadName()).append(" waits for ").append(i.getLockName())
                    .append(" held by ").append(i.getLockOwnerName());
        }
        return b.toString();
    }
}
