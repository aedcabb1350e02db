package dev.shadowcopy.provider.store;

import java.lang.foreign.MemorySegment;

/**
 * Encodes one engine's journal records (type byte and payload) for a {@link Journal}, which frames them.
 * Each engine layout owns one codec and documents its payloads byte by byte there.
 *
 * @param <R> the engine's record type
 */
public interface RecordCodec<R> {

    /** Stamped into the journal header so that a journal of one layout is never replayed by another. */
    int kind();

    /** Bytes of type + payload for {@code record} (at most {@link JournalFraming#MAX_RECORD}). */
    int size(R record);

    /** Writes type + payload at {@code offset}; exactly {@link #size} bytes. */
    void encode(MemorySegment segment, long offset, R record);

    /** Decodes {@code length} bytes of type + payload, or returns null if they are not a valid record. */
    R decode(MemorySegment segment, long offset, int length);
}
