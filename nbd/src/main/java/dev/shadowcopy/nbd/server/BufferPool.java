package dev.shadowcopy.nbd.server;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * Direct buffers for request and reply payloads, in power-of-two size classes from 4 KiB to 32 MiB, reused so
 * that a connection in steady state allocates nothing per request. Keeps a few idle buffers per class.
 */
final class BufferPool {
    private static final int MIN_SHIFT = 12;
    private static final int MAX_SHIFT = 25;
    private static final int KEEP = 8;
    @SuppressWarnings("unchecked")
    private final ConcurrentLinkedDeque<ByteBuffer>[] idle = new ConcurrentLinkedDeque[MAX_SHIFT - MIN_SHIFT + 1];

    BufferPool() {
        for (int i = 0; i < idle.length; i++) {
            idle[i] = new ConcurrentLinkedDeque<>();
        }
    }

    /** A buffer with position 0 and limit {@code size} (at most 32 MiB). */
    ByteBuffer take(int size) {
        int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(1, size) - 1));
        ByteBuffer b = idle[shift - MIN_SHIFT].pollFirst();
        if (b == null) {
            b = ByteBuffer.allocateDirect(1 << shift);
        }
        return b.clear().limit(size);
    }

    void give(ByteBuffer b) {
        int shift = Integer.numberOfTrailingZeros(b.capacity());
        ConcurrentLinkedDeque<ByteBuffer> q = idle[shift - MIN_SHIFT];
        if (q.size() < KEEP) {
            q.addFirst(b);
        }
    }
}
