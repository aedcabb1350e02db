package dev.shadowcopy.provider.row;

import static dev.shadowcopy.testing.Segments.filled;
import static dev.shadowcopy.testing.Segments.of;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.ChangeTracking;
import dev.shadowcopy.testing.SimulatedStorage;
import dev.shadowcopy.volume.EngineAccess;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.VolumeManager;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The race the background-work property found on 2026-11-25 (docs/engine.md, "Fixed: a rare redirect-on-write
 * loss"), forced instead of waited for: the background merge of a chunk queues {@code LIVE(c, epoch it had, BASE)};
 * an in-place write of the chunk in a later epoch, landing before the merge's commit, journals its
 * {@code TOUCH(c, new epoch)} at once, ahead of the queued record. Replay meets TOUCH then LIVE and must not take the
 * chunk's epoch back, or change tracking calls a rewritten chunk unchanged. The earlier version of this test replayed
 * the property's shrunk sequence 60 times and still passed with the bug about one run in 200; this one holds the
 * merge's commit at its shadow storage sync and writes from another thread exactly there, so it fails every time the
 * bug is back.
 */
class RowMergeRaceTest {
    private static final int CHUNK = 4096;
    private static final long C = 3;
    private static final Path STATE = Path.of("/state/volumes");

    @Test
    void aMergeRecordQueuedBehindATouchDoesNotTakeTheChunksEpochBack() throws Exception {
        SimulatedStorage disk = new SimulatedStorage(7);
        VolumeManager manager = VolumeManager.open(disk, STATE, VolumeEvents.NONE,
                VolumeManager.Tuning.inline(64 << 20));
        ManagedVolume v = manager.create(VolumeConfig.sparse("row", 16 * CHUNK).withChunkSize(CHUNK)
                .withLayout(VolumeLayout.REDIRECT_ON_WRITE));
        RowEngine engine = (RowEngine) EngineAccess.engine(v);
        v.write(C * CHUNK, of(filled(CHUNK, 'a')), true);
        ShadowCopyInfo a = v.createShadowCopy(ShadowCopyId.random(), true); // epoch 1
        v.write(C * CHUNK, of(filled(CHUNK, 'b')), true); // redirected to a slot: A keeps the base
        ShadowCopyInfo b = v.createShadowCopy(ShadowCopyId.random(), true); // epoch 2; B reads the slot
        v.deleteShadowCopy(b.id()); // nothing to merge yet: A still needs the base

        AtomicBoolean interleaved = new AtomicBoolean();
        AtomicReference<Throwable> writeFailure = new AtomicReference<>();
        Runnable[] hook = new Runnable[1];
        hook[0] = () -> {
            if (engine.state.location(C) != VersionIndex.BASE) {
                armAgain(disk, hook[0]); // an earlier commit: the merge has not moved the chunk yet
                return;
            }
            // The merge moved the chunk to the base and queued its LIVE record; its commit is syncing shadow storage.
            // A writer on another thread rewrites the chunk in place now (epoch 2 > its epoch 1, no copy needs it).
            Thread writer = Thread.ofPlatform().start(() -> {
                try {
                    v.write(C * CHUNK, of(filled(CHUNK, 'c')), false);
                } catch (Throwable e) {
                    writeFailure.set(e);
                }
            });
            try {
                writer.join(20_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            interleaved.set(!writer.isAlive());
        };
        armAgain(disk, hook[0]);
        v.deleteShadowCopy(a.id()); // the base is free: the (inline) merge runs now, and the hook fires in it
        assertTrue(interleaved.get(), "the write did not run between the merge and its commit (or it blocked)");
        assertNull(writeFailure.get(), () -> "the write failed: " + writeFailure.get());

        disk.crash();
        manager = VolumeManager.open(disk, STATE, VolumeEvents.NONE, VolumeManager.Tuning.inline(64 << 20));
        ManagedVolume after = manager.get("row");
        boolean[] changed = ChangeTracking.changedChunks(after, b.sequence(), 16 * CHUNK, CHUNK);
        assertTrue(changed[(int) C], "chunk " + C + " was rewritten after the copy with sequence " + b.sequence()
                + " but change tracking calls it unchanged after the crash");
        assertTrue(after.trackingSince() <= b.sequence(), "tracking still vouches for that copy");
        manager.close();
    }

    private static void armAgain(SimulatedStorage disk, Runnable hook) {
        disk.beforeNextSync(p -> p.getFileName().toString().equals("shadow-storage.dat"), hook);
    }
}
