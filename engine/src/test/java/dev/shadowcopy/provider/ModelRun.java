package dev.shadowcopy.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowStorageLimit;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Runs a sequence of operations against the real engine on {@link SimulatedStorage} and checks every step
 * against {@link VolumeModel}. Shared by the random property test and the every-fault-point test.
 */
final class ModelRun {
    private static final Path STATE = Path.of("/state/volumes");

    /** Two shapes: small chunks on an unaligned size (unbounded storage), or big chunks with a 1 MiB limit. */
    enum Shape {
        SMALL_CHUNKS(4096, 66_048, null),
        LIMITED_STORAGE(65_536, 2 << 20, ShadowStorageLimit.ofBytes(1 << 20));

        final int chunk;
        final int size;
        final ShadowStorageLimit limit;

        Shape(int chunk, int size, ShadowStorageLimit limit) {
            this.chunk = chunk;
            this.size = size;
            this.limit = limit;
        }
    }

    sealed interface Op {}

    record Write(double at, double length, int seed) implements Op {}

    record Trim(double at, double length) implements Op {}

    /** {@code count} back-to-back writes of about a chunk each: a sequential stream (preserve-ahead). */
    record Stream(double at, int count, int seed) implements Op {}

    record Zero(double at, double length, boolean deallocate) implements Op {}

    record Flush() implements Op {}

    record Create(boolean persistent) implements Op {}

    record Delete(int which) implements Op {}

    record Revert(int which) implements Op {}

    record ReadCopy(int which, double at, double length) implements Op {}

    record Reopen() implements Op {}

    record Crash() implements Op {}

    record Checkpoint() implements Op {}

    /** Inject an I/O fault at the n-th storage operation of the next op, then crash. */
    record Fault(int n) implements Op {}

    /** One execution of a sequence. */
    static final class Run {
        final Shape shape;
        final SimulatedStorage disk;
        final VolumeModel model;
        final Set<ShadowCopyId> released = new HashSet<>();
        VolumeManager manager;
        ManagedVolume volume;

        Run(Shape shape, long seed) throws IOException {
            this(shape, VolumeLayout.COPY_ON_WRITE, seed);
        }

        /** Background merges, commits, checkpoints and slot preparation on real threads, racing the ops. */
        final boolean background;

        Run(Shape shape, VolumeLayout layout, long seed) throws IOException {
            this(shape, layout, seed, false);
        }

        Run(Shape shape, VolumeLayout layout, long seed, boolean background) throws IOException {
            this.shape = shape;
            this.background = background;
            this.disk = new SimulatedStorage(seed);
            if (layout == VolumeLayout.SPLIT_MIRROR && seed % 2 == 1) {
                disk.refuseClones(); // half the runs resynchronise the new mirror instead of cloning the split
            }
            this.model = new VolumeModel(shape.size);
            open();
            VolumeConfig config = VolumeConfig.sparse("vol", shape.size).withChunkSize(shape.chunk).withLayout(layout);
            if (shape.limit != null) {
                config = config.withShadowStorage(shape.limit);
            }
            volume = manager.create(config);
        }

        private void open() throws IOException {
            VolumeEvents events = new VolumeEvents() {
                @Override
                public void shadowCopyReleased(String v, ShadowCopyInfo copy, String reason) {
                    if (!reason.startsWith("non-persistent")) {
                        released.add(copy.id());
                    }
                }
            };
            manager = VolumeManager.open(disk, STATE, events, background
                    ? new VolumeManager.Tuning(4096, false, 256 << 10) : VolumeManager.Tuning.inline(4096));
            volume = manager.find("vol").orElse(null);
        }

        /** Runs the operations (with their faults) and ends with a crash and a full check. */
        void execute(List<Op> ops) throws IOException {
            try {
                executeWithoutFinalCrash(ops);
                crashAndRecover(null);
            } finally {
                if (background) {
                    try {
                        manager.close(); // its periodic commit would keep this run (and its disk) alive
                    } catch (IOException | RuntimeException ignored) {
                        // a failed run's volume may refuse to close cleanly; the disk is thrown away
                    }
                }
            }
        }

        void executeWithoutFinalCrash(List<Op> ops) throws IOException {
            Integer faultAt = null;
            for (Op op : ops) {
                if (op instanceof Fault f) {
                    faultAt = f.n();
                    continue;
                }
                if (faultAt != null) {
                    disk.failAt(faultAt);
                    faultAt = null;
                    try {
                        apply(op);
                    } catch (IOException | RuntimeException e) {
                        if (!disk.faultFired()) {
                            throw e;
                        }
                    }
                    if (disk.faultFired()) {
                        crashAndRecover(op);
                    } else {
                        disk.failAt(Long.MAX_VALUE / 2);
                    }
                    continue;
                }
                if (!background) {
                    apply(op);
                    continue;
                }
                // With background work an armed fault may fire in a merge or commit on another thread, before,
                // during or after this op; the volume then stops (a failed sync) and the next op sees it.
                try {
                    apply(op);
                } catch (IOException | RuntimeException e) {
                    if (disk.faults() == faultsRecovered) {
                        throw e;
                    }
                    crashAndRecover(op);
                }
            }
        }

        private long offset(double at) {
            return Math.min(shape.size - 1, (long) (at * shape.size));
        }

        private int length(long offset, double length) {
            long max = Math.min(shape.size - offset, 3L * shape.chunk);
            return (int) Math.max(1, Math.round(length * max));
        }

        private ShadowCopyId pick(int which) {
            List<ShadowCopyId> ids = new ArrayList<>(model.copies.keySet());
            return ids.isEmpty() ? null : ids.get(which % ids.size());
        }

        /** A split mirror refuses copies while it resynchronises (retryable): wait for it, bounded. */
        private ShadowCopyInfo createWaitingForResync(ShadowCopyId id, boolean persistent) throws IOException {
            long end = System.nanoTime() + 60_000_000_000L;
            while (true) {
                try {
                    return volume.createShadowCopy(id, persistent);
                } catch (dev.shadowcopy.device.VolumeException e) {
                    if (e.code() != dev.shadowcopy.device.VolumeException.Code.RESYNC_IN_PROGRESS
                            || System.nanoTime() > end) {
                        throw e;
                    }
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        throw e;
                    }
                }
            }
        }

        /** Pending effects of an op cut short by a fault, for the recovery check. */
        private byte[] revertTarget;

        void apply(Op op) throws IOException {
            revertTarget = null;
            syncReleased();
            switch (op) {
                case Write w -> {
                    long off = offset(w.at());
                    byte[] data = Segments.random(length(off, w.length()), w.seed());
                    model.write(off, data);
                    volume.write(off, Segments.of(data), false);
                    syncReleased();
                }
                case Stream st -> {
                    long off = offset(st.at());
                    for (int i = 0; i < st.count() && off < shape.size; i++) {
                        int len = (int) Math.min(shape.chunk + 512L * (i % 3), shape.size - off);
                        byte[] data = Segments.random(len, st.seed() + i);
                        model.write(off, data);
                        volume.write(off, Segments.of(data), false);
                        syncReleased();
                        off += len;
                    }
                }
                case Trim t -> {
                    long off = offset(t.at());
                    int len = length(off, t.length());
                    model.write(off, new byte[len]);
                    volume.trim(off, len, false);
                }
                case Zero z -> {
                    long off = offset(z.at());
                    int len = length(off, z.length());
                    model.write(off, new byte[len]);
                    volume.writeZeroes(off, len, z.deallocate(), false);
                }
                case Flush f -> {
                    volume.flush();
                    model.flush();
                }
                case Create c -> {
                    if (volume.shadowCopies().size() >= 40) {
                        return;
                    }
                    ShadowCopyId id = ShadowCopyId.random();
                    VolumeModel.Copy copy = new VolumeModel.Copy(model.live.clone(), c.persistent(), -1, true);
                    model.copies.put(id, copy);
                    ShadowCopyInfo info = createWaitingForResync(id, c.persistent());
                    model.copies.put(id, new VolumeModel.Copy(copy.content, c.persistent(), info.sequence(), false));
                    model.history.add(model.copies.get(id));
                    // creation flushes the volume: everything before it is durable
                    model.flush();
                    syncReleased();
                }
                case Delete d -> {
                    ShadowCopyId id = pick(d.which());
                    if (id == null) {
                        return;
                    }
                    model.copies.get(id).inDoubt = true;
                    assertTrue(volume.deleteShadowCopy(id), "delete of existing copy " + id);
                    model.copies.remove(id);
                }
                case Revert r -> {
                    ShadowCopyId id = pick(r.which());
                    if (id == null) {
                        return;
                    }
                    byte[] target = model.copies.get(id).content;
                    boolean seen = false;
                    for (var e : model.copies.entrySet()) {
                        if (seen) {
                            e.getValue().inDoubt = true; // later copies are deleted by the revert
                        }
                        seen |= e.getKey().equals(id);
                    }
                    revertTarget = target;
                    volume.revert(id);
                    model.copies.entrySet().removeIf(e -> e.getValue().inDoubt);
                    model.write(0, target);
                    model.flush();
                    revertTarget = null;
                }
                case ReadCopy rc -> {
                    ShadowCopyId id = pick(rc.which());
                    if (id == null) {
                        return;
                    }
                    syncReleased();
                    if (!model.copies.containsKey(id)) {
                        return;
                    }
                    long off = offset(rc.at());
                    int len = length(off, rc.length());
                    byte[] expected = java.util.Arrays.copyOfRange(model.copies.get(id).content, (int) off,
                            (int) off + len);
                    assertArrayEquals(expected, VolumeModel.readCopy(volume, id, off, len),
                            "read of copy " + id + " at " + off + " length " + len);
                }
                case Reopen r -> {
                    manager.close();
                    open();
                    model.copies.values().removeIf(c -> !c.persistent);
                    model.checkCopies(volume, released);
                    assertArrayEquals(model.live, VolumeModel.readLive(volume, 0, shape.size), "live after reopen");
                    model.flush();
                    model.checkChangeTracking(volume, shape.chunk);
                }
                case Crash c -> crashAndRecover(null);
                case Checkpoint c -> engineOf(volume).checkpoint();
                case Fault f -> throw new AssertionError("handled by execute");
            }
        }

        private void syncReleased() {
            for (ShadowCopyId id : released) {
                model.copies.remove(id);
            }
            released.clear();
        }

        /** Faults fired up to the last recovery (background mode: a later one may have stopped the volume). */
        private long faultsRecovered;

        void crashAndRecover(Op interrupted) throws IOException {
            disk.crash();
            faultsRecovered = disk.faults();
            if (background) {
                // stop the abandoned engine's threads (its handles are dead, so nothing reaches the disk)
                try {
                    manager.close();
                } catch (IOException | RuntimeException ignored) {
                    // expected: every write through a handle from before the crash fails
                }
            }
            open();
            if (interrupted instanceof Write || interrupted instanceof Trim || interrupted instanceof Zero) {
                // model.write already recorded it as pending: it may or may not have reached the disk
            }
            model.copies.values().removeIf(c -> !c.persistent && !c.inDoubt);
            model.copies.entrySet().removeIf(e -> !e.getValue().persistent);
            byte[] recovered = VolumeModel.readLive(volume, 0, shape.size);
            model.checkRecoveredLive(recovered, revertTarget);
            revertTarget = null;
            boolean writeCut = interrupted instanceof Write || interrupted instanceof Trim || interrupted instanceof Zero
                    || interrupted instanceof Stream;
            model.checkCopies(volume, released, writeCut);
            model.checkChangeTracking(volume, shape.chunk);
        }
    }

    static dev.shadowcopy.device.VolumeEngine engineOf(ManagedVolume v) {
        return dev.shadowcopy.volume.EngineAccess.engine(v);
    }
}
