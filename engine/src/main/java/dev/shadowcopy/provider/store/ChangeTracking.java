package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import java.io.IOException;

/**
 * Change tracking of an epoch engine: which sequence it can vouch for, and its suspension when the journal cannot
 * grow. A chunk changed after the copy with sequence {@code since} exactly when the version a reader sees (of the live
 * volume, or of a copy {@code asOf}) was written in an epoch after {@code since}; every first touch of a chunk in an
 * epoch records that epoch durably (or under an intent), so this holds across crashes.
 *
 * <p>Thread-safety: the two fields are volatile; {@link #suspend} and {@link #restart} are called under the engine's
 * {@code metaGate} (shared) and are idempotent per epoch.
 */
public final class ChangeTracking {
    /** Makes a record durable after everything journalled before it (the engine's own ordering). */
    @FunctionalInterface
    public interface DurableAppend {
        void appendDurable(JournalRecord record) throws IOException;
    }

    private final String volume;
    private final VolumeEvents events;
    private volatile int since;
    private volatile boolean suspendedInEpoch;

    public ChangeTracking(String volume, VolumeEvents events, int since) {
        this.volume = volume;
        this.events = events;
        this.since = since;
    }

    /** Changes are known for every copy with a sequence at or above this. */
    public int since() {
        return since;
    }

    /** True while this epoch's writes go untracked (the journal could not grow); a new epoch tracks again. */
    public boolean suspended() {
        return suspendedInEpoch;
    }

    /** A copy closed the epoch: tracking resumes (from its sequence on, as {@link #since} says). */
    public void newEpoch() {
        suspendedInEpoch = false;
    }

    /**
     * Nothing before {@code epoch} can be vouched for (the backing was written behind our back): restarts tracking
     * there, durably, and tells the admin that the next incremental backup reads everything.
     */
    public void restart(int epoch, String why, DurableAppend journal) throws IOException {
        journal.appendDurable(new JournalRecord.TrackingReset(epoch));
        since = Math.max(since, epoch);
        events.warning(volume, "change tracking restarts: " + why + "; the next incremental backup reads the whole "
                + "volume and stores only what differs");
    }

    /**
     * The journal cannot grow and no copy needs this write's records: the rest of epoch {@code epoch} goes untracked
     * (once per epoch), so that a live write never fails for want of tracking.
     */
    public void suspend(int epoch, IOException why, DurableAppend journal) throws IOException {
        if (!suspendedInEpoch) {
            journal.appendDurable(new JournalRecord.TrackingReset(epoch));
            since = Math.max(since, epoch);
            suspendedInEpoch = true;
            events.warning(volume, "change tracking suspended (metadata cannot grow: " + why.getMessage()
                    + "); the next incremental backup reads the whole volume");
        }
    }

    /** Refuses a question about changes since {@code sinceSequence} that tracking cannot answer. */
    public void check(int sinceSequence) throws VolumeException {
        if (sinceSequence < since) {
            throw new VolumeException(VolumeException.Code.BAD_STATE, "changes of volume " + volume
                    + " since sequence " + sinceSequence + " are not known (tracking restarted at sequence " + since
                    + "); read the whole volume");
        }
    }

    /**
     * Reports extents with flag 1 for chunks whose version as of epoch {@code asOf} (MAX_VALUE: the live volume) was
     * written after epoch {@code since}: the live version if it is old enough, else the recorded version that serves
     * {@code asOf}. A version that cannot be found is reported as changed (never miss a change).
     */
    public static void mapChanges(ChunkEpochs liveEpoch, VersionIndex versions, int shift, int since, int asOf,
                                  long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException {
        ExtentCoalescer out = new ExtentCoalescer(visitor);
        long end = offset + length;
        long pos = offset;
        while (pos < end && !out.stopped()) {
            long c = pos >>> shift;
            long chunkEnd = Math.min(end, (c + 1) << shift);
            int w = liveEpoch.get(c);
            int version = w <= asOf ? w : versions.versionEpoch(c, asOf);
            out.add(pos, chunkEnd - pos, version < 0 || version > since ? 1 : 0);
            pos = chunkEnd;
        }
        out.finish();
    }
}
