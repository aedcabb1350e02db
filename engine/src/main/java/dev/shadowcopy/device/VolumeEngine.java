package dev.shadowcopy.device;

import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * How a managed volume stores live data and shadow copies (the software provider's side of a volume).
 * {@code volume.ManagedVolume} is the front: it checks ranges and holds writes; an engine implements the data
 * paths and the shadow copy lifecycle. Copy-on-write ({@code provider.cow.CowEngine}) is the default.
 *
 * <p>Calling contract: data-path methods are called concurrently, with ranges already checked, and never
 * while writes are held. Methods marked "writes held" are called only while {@code volume.ManagedVolume} holds
 * every data-path call out.
 */
public interface VolumeEngine extends AutoCloseable {

    long size();

    int chunkSize();

    void read(long offset, MemorySegment dst) throws IOException;

    void write(long offset, MemorySegment src) throws IOException;

    void flush() throws IOException;

    void trim(long offset, long length) throws IOException;

    void writeZeroes(long offset, long length, boolean mayDeallocate) throws IOException;

    void mapAllocation(long offset, long length, BlockDevice.ExtentVisitor visitor) throws IOException;

    /** Committed shadow copies, oldest first. */
    List<ShadowCopyInfo> shadowCopies();

    /** Step 1 of creation (writes flowing): checks limits and flushes, so that the commit is short. */
    PendingShadowCopy prepareShadowCopy(ShadowCopyId id, boolean persistent) throws IOException;

    /** Step 2 (writes held): fixes the instant; O(1), no I/O. */
    void commitShadowCopy(PendingShadowCopy pending) throws IOException;

    /** Step 3 (writes flowing): makes the copy durable; it is listed and readable on return. */
    ShadowCopyInfo completeShadowCopy(PendingShadowCopy pending) throws IOException;

    /** Abandons a creation at any step before completion returned; frees what it had preserved. */
    void abortShadowCopy(PendingShadowCopy pending);

    /**
     * Deletes a shadow copy (waits for its running reads) and frees the preserved chunks no other copy needs.
     * Durable on return.
     *
     * @return false if there was no such copy
     */
    boolean deleteShadowCopy(ShadowCopyId id, String reason) throws IOException;

    /** Writes held: the live volume becomes the copy's content; later copies are deleted. Durable on return. */
    void revert(ShadowCopyId id) throws IOException;

    void readShadowCopy(ShadowCopyId id, long offset, MemorySegment dst) throws IOException;

    /** {@link #readShadowCopy} bypassing the page cache where it can ({@link BlockDevice#readUncached}). */
    default void readShadowCopyUncached(ShadowCopyId id, long offset, MemorySegment dst) throws IOException {
        readShadowCopy(id, offset, dst);
    }

    void mapShadowAllocation(ShadowCopyId id, long offset, long length, BlockDevice.ExtentVisitor visitor)
            throws IOException;

    ShadowStorageUsage shadowStorage() throws IOException;

    /**
     * Changes the maximum; if usage is above it, the oldest copies the owner does not keep
     * ({@link VolumeEvents#mayRelease}) are deleted until it fits. Callers check {@link #shadowStorageKept} first.
     */
    void setShadowStorageLimit(long maxBytes) throws IOException;

    /**
     * Bytes of shadow storage the copies the engine may not release on its own need now (protected copies): the
     * least its maximum may be lowered to. Grows as the live volume is written.
     */
    default long shadowStorageKept() throws IOException {
        return 0;
    }

    /**
     * Reports which chunks changed after the copy with sequence {@code sinceSequence} was taken, as of the copy
     * {@code asOf} (null: the live volume). Extents have flag 1 when changed, 0 when not. The copy
     * {@code sinceSequence} named need not exist any more.
     *
     * @throws VolumeException with {@code BAD_STATE} when changes since then are not known (see
     *                         {@link #trackingSince()})
     */
    void mapChanges(int sinceSequence, ShadowCopyId asOf, long offset, long length,
                    BlockDevice.ExtentVisitor visitor) throws IOException;

    /** Changes are known for every copy with a sequence at or above this. */
    int trackingSince();

    /** Writes the metadata state now, so that the journal before it is discarded (tests, admin tools). */
    void checkpoint() throws IOException;

    /** Closes cleanly (a checkpoint makes the next open fast). */
    @Override
    void close() throws IOException;

    /** A shadow copy being created. */
    interface PendingShadowCopy {
        ShadowCopyId id();
    }

    /** VSS's {Used, Allocated, Maximum} of a diff area, in bytes ({@code maximum} is -1 when unbounded). */
    record ShadowStorageUsage(long used, long allocated, long maximum, String location) {}
}
