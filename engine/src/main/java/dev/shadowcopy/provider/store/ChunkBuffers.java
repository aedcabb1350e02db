package dev.shadowcopy.provider.store;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * A pool of chunk-sized native buffers for preservation and revert, so the copy-on-write path allocates
 * nothing per request once warm. The pool grows to the number of threads that preserve at once and keeps
 * at most {@value #KEEP} idle buffers.
 */
public final class ChunkBuffers implements AutoCloseable {
    private static final int KEEP = 64;
    private final int chunkSize;
    private final Arena arena = Arena.ofShared();
    private final ConcurrentLinkedDeque<MemorySegment> idle = new ConcurrentLinkedDeque<>();

    public ChunkBuffers(int chunkSize) {
        this.chunkSize = chunkSize;
    }

    public MemorySegment take() {
        MemorySegment b = idle.pollFirst();
        if (b != null) {
            return b;
        }
        synchronized (arena) {
            return arena.allocate(chunkSize, 4096);
        }
    }

    public void give(MemorySegment buffer) {
        if (idle.size() < KEEP) {
            idle.addFirst(buffer);
        }
    }

    @Override
    public void close() {
        idle.clear();
        arena.close();
    }
}
