package dev.shadowcopy.provider.store;

import java.lang.foreign.MemorySegment;
import java.util.UUID;

/**
 * One change to a software provider's metadata, replayed in journal order; every record is idempotent ("set"
 * semantics), so replaying a journal on top of a checkpoint that already holds some of its effects gives the same
 * state. The records every epoch engine writes are here ({@link Shared}); each engine adds its own (copy-on-write's
 * {@code CowRecord}, redirect-on-write's {@code LiveRecord}). Byte layouts: {@link JournalCodec} and the engines'
 * codecs.
 */
public interface JournalRecord {

    /**
     * One of an engine's own records: it names its type byte and writes its payload itself (its layout is documented
     * on the engine's record interface); the engine's decoder reads it back ({@link JournalCodec}).
     */
    interface Own extends JournalRecord {
        byte type();

        /** Payload bytes after the type byte. */
        int payloadSize();

        /** Writes the payload at {@code p}: exactly {@link #payloadSize} bytes, little-endian. */
        void encode(MemorySegment seg, long p);
    }

    /** The records of the copy lifecycle and change tracking, the same in every epoch engine. */
    sealed interface Shared extends JournalRecord permits ShadowCreate, ShadowDelete, Touch, TrackingReset,
            Reverted {}

    /** A shadow copy exists: it sees the content written up to the end of {@code epoch}. */
    record ShadowCreate(UUID id, int epoch, long createdMillis, boolean persistent) implements Shared {}

    /** A shadow copy is gone; what only it needed is free from here on. */
    record ShadowDelete(UUID id) implements Shared {}

    /** Chunks {@code first .. first + count - 1} were written in {@code epoch} without a record of their own. */
    record Touch(long first, int count, int epoch) implements Shared {}

    /** Writes before {@code epoch} are no longer tracked (tracking was suspended or cannot be trusted). */
    record TrackingReset(int epoch) implements Shared {}

    /**
     * The live volume became shadow copy {@code id}: every chunk written after it holds (or points at) the copy's
     * version and belongs to {@code newEpoch}; the volume continues in {@code newEpoch}. (Copy-on-write writes it
     * after the data is restored and synced; redirect-on-write's revert is this record alone.)
     */
    record Reverted(UUID id, int newEpoch) implements Shared {}
}
