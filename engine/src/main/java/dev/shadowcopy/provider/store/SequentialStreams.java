package dev.shadowcopy.provider.store;

/**
 * Recognises sequential streams of first-touch writes so that the engine can preserve chunks ahead of them
 * (like read-ahead, for copy-on-write). Each first touch pays two fdatasyncs; preserving the next chunks of a
 * stream in the same batch lets the stream's following writes take the rewrite path, so a single sequential
 * writer pays those syncs once per window instead of once per request.
 *
 * <p>A stream is a first-touch write that starts where the previous first-touch batch of some stream ended.
 * The window doubles from {@code minChunks} up to {@code maxChunks} while the stream continues. Random writes
 * almost never start exactly at a remembered end, so they get no look-ahead. The cost of a wrong guess is
 * the window's preservation work and the chunks being reported as changed by change tracking; copies stay
 * exact because a chunk preserved ahead keeps its content.
 *
 * <p>Thread-safety: synchronized; called once per first-touch write, never on the rewrite path.
 */
public final class SequentialStreams {
    private static final int SLOTS = 8;
    private final int minChunks;
    private final int maxChunks;
    private final long[] nextChunk = new long[SLOTS];
    private final int[] window = new int[SLOTS];
    private final long[] lastUse = new long[SLOTS];
    private long clock;

    public SequentialStreams(int minChunks, int maxChunks) {
        this.minChunks = minChunks;
        this.maxChunks = maxChunks;
        java.util.Arrays.fill(nextChunk, -1);
    }

    /**
     * How many chunks after {@code lastChunk} to preserve with a first-touch write of {@code firstChunk ..
     * lastChunk}; also remembers where this batch will end.
     */
    public synchronized int lookAhead(long firstChunk, long lastChunk) {
        clock++;
        for (int i = 0; i < SLOTS; i++) {
            if (nextChunk[i] == firstChunk) {
                window[i] = window[i] == 0 ? minChunks : Math.min(maxChunks, window[i] * 2);
                nextChunk[i] = lastChunk + window[i] + 1;
                lastUse[i] = clock;
                return window[i];
            }
        }
        int lru = 0;
        for (int i = 1; i < SLOTS; i++) {
            if (lastUse[i] < lastUse[lru]) {
                lru = i;
            }
        }
        nextChunk[lru] = lastChunk + 1;
        window[lru] = 0;
        lastUse[lru] = clock;
        return 0;
    }
}
