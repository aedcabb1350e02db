package dev.shadowcopy.provider.store;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * For every chunk of the live volume, the epoch in which its current content was written ("written
 * epoch"). Epoch 0 is "before the first shadow copy"; each shadow copy closes an epoch.
 *
 * <p>Paged: pages of 64 Ki entries are allocated on first non-zero store, so a large volume that is
 * mostly untouched costs little memory. Reads are acquire, writes release: a reader that sees a chunk's new
 * epoch also sees the record published before it (see the copy-on-write engine's read path).
 *
 * <p>Thread-safety: concurrent get/set are safe; two concurrent sets of the same chunk are excluded by the
 * engine's stripe locks.
 */
public final class ChunkEpochs {
    static final int PAGE_SHIFT = 16;
    private static final int PAGE_SIZE = 1 << PAGE_SHIFT;
    private static final int PAGE_MASK = PAGE_SIZE - 1;
    private static final VarHandle INTS = MethodHandles.arrayElementVarHandle(int[].class);

    private final long chunks;
    private final AtomicReferenceArray<int[]> pages;

    public ChunkEpochs(long chunks) {
        this.chunks = chunks;
        long pageCount = (chunks + PAGE_SIZE - 1) >>> PAGE_SHIFT;
        if (pageCount > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("too many chunks: " + chunks);
        }
        this.pages = new AtomicReferenceArray<>((int) pageCount);
    }

    public long chunks() {
        return chunks;
    }

    public int get(long chunk) {
        int[] page = pages.getAcquire((int) (chunk >>> PAGE_SHIFT));
        return page == null ? 0 : (int) INTS.getAcquire(page, (int) (chunk & PAGE_MASK));
    }

    public void set(long chunk, int epoch) {
        int[] page = page((int) (chunk >>> PAGE_SHIFT), epoch != 0);
        if (page != null) {
            INTS.setRelease(page, (int) (chunk & PAGE_MASK), epoch);
        }
    }

    /** Raises a chunk's epoch to at least {@code epoch} (replay: records are applied with max semantics). */
    public void raise(long chunk, int epoch) {
        if (get(chunk) < epoch) {
            set(chunk, epoch);
        }
    }

    private int[] page(int index, boolean create) {
        int[] page = pages.getAcquire(index);
        if (page == null && create) {
            int[] fresh = new int[PAGE_SIZE];
            page = pages.compareAndExchangeRelease(index, null, fresh);
            if (page == null) {
                page = fresh;
            }
        }
        return page;
    }

    /** Calls {@code visitor} with maximal runs of equal epochs covering all chunks, in order. */
    public void forEachRun(RunVisitor visitor) {
        long start = 0;
        int current = get(0);
        for (long c = 1; c < chunks; ) {
            int pageIndex = (int) (c >>> PAGE_SHIFT);
            if ((c & PAGE_MASK) == 0 && pages.getAcquire(pageIndex) == null) {
                // a missing page is all zeros: cover it in one step
                if (current != 0) {
                    visitor.run(start, c - start, current);
                    start = c;
                    current = 0;
                }
                c = Math.min(chunks, ((long) pageIndex + 1) << PAGE_SHIFT);
                continue;
            }
            int e = get(c);
            if (e != current) {
                visitor.run(start, c - start, current);
                start = c;
                current = e;
            }
            c++;
        }
        visitor.run(start, chunks - start, current);
    }

    /** A deep copy, for a checkpoint taken while writes go on. */
    public ChunkEpochs copy() {
        ChunkEpochs copy = new ChunkEpochs(chunks);
        for (int i = 0; i < pages.length(); i++) {
            int[] page = pages.getAcquire(i);
            if (page != null) {
                copy.pages.set(i, page.clone());
            }
        }
        return copy;
    }

    @FunctionalInterface
    public interface RunVisitor {
        void run(long firstChunk, long count, int epoch);
    }
}
