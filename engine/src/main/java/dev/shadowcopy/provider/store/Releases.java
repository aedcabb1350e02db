package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.ShadowStorageFullException;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.provider.store.ShadowRegistry.Phase;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * Which copies an engine may release on its own when shadow storage is full or its maximum is lowered: the oldest
 * first (VSS), skipping copies the owner keeps ({@link VolumeEvents#mayRelease}: protected copies). Shared by the
 * copy-on-write and redirect-on-write engines, whose callers hold their {@code roomLock}.
 */
public final class Releases {
    private final String volume;
    private final ShadowRegistry registry;
    private final VolumeEvents events;
    private final Function<Shadow, ShadowCopyInfo> info;

    public Releases(String volume, ShadowRegistry registry, VolumeEvents events,
                    Function<Shadow, ShadowCopyInfo> info) {
        this.volume = volume;
        this.registry = registry;
        this.events = events;
        this.info = info;
    }

    /**
     * The oldest copy that may be released now, or null.
     *
     * @param afterDeletions wait first (bounded) for deletions already under way — a requested delete, an
     *                       auto-release — whose freed space may be all that is needed: skipping past a copy being
     *                       deleted would release a newer one in its place. False on paths a deletion itself takes
     *                       (a commit inside a deletion must not wait for it).
     */
    public Shadow oldest(boolean afterDeletions) {
        if (afterDeletions) {
            awaitDeletions();
        }
        for (Shadow s : registry.inPhases(Phase.PENDING, Phase.COMMITTING, Phase.COMMITTED)) {
            if (events.mayRelease(volume, info.apply(s))) {
                return s;
            }
        }
        return null;
    }

    /** The live copies the owner keeps (never released on our own), oldest first. */
    public List<Shadow> kept() {
        List<Shadow> out = new ArrayList<>();
        for (Shadow s : registry.inPhases(Phase.PENDING, Phase.COMMITTING, Phase.COMMITTED)) {
            if (!events.mayRelease(volume, info.apply(s))) {
                out.add(s);
            }
        }
        return out;
    }

    /** True if a sorted epoch array has an epoch in {@code [from, toExclusive)}. */
    public static boolean anyIn(int[] sortedEpochs, int from, int toExclusive) {
        int i = java.util.Arrays.binarySearch(sortedEpochs, from);
        if (i < 0) {
            i = -i - 1;
        }
        return i < sortedEpochs.length && sortedEpochs[i] < toExclusive;
    }

    /**
     * The refusal of a live write that only kept copies could make room for (reported to the owner too).
     *
     * @param what what could not be done, e.g. "shadow storage reached its maximum size of 4 MiB"
     */
    public ShadowStorageFullException refuse(long offset, String what) {
        List<String> ids = kept().stream().map(s -> s.id.toString()).toList();
        ShadowStorageFullException e = new ShadowStorageFullException("volume " + volume + ": the write at offset "
                + offset + " was refused: " + what + ", and only protected shadow copies are left to release ("
                + String.join(", ", ids) + "); their data is kept. Raise the maximum (shadowcopy resize shadowstorage "
                + "--for " + volume + " --maxsize SIZE), free space under shadow storage, or wait until the protection "
                + "ends", ids);
        events.writeRefused(volume, e);
        return e;
    }

    /**
     * Waits (parking, not spinning) until no copy of the volume is between its delete decision and its end, at most
     * {@link #DELETION_WAIT_NANOS}: a deletion syncs one journal record and frees its slots, but waits for the
     * running reads of its copy first.
     */
    private void awaitDeletions() {
        long end = System.nanoTime() + DELETION_WAIT_NANOS;
        while (!registry.inPhases(Phase.DELETING).isEmpty() && System.nanoTime() < end) {
            LockSupport.parkNanos(200_000);
        }
    }

    private static final long DELETION_WAIT_NANOS = 2_000_000_000L;
}
