package dev.shadowcopy.device;

/**
 * What an engine is opened with besides its files: the volume's limits and the engine's tuning.
 *
 * @param shadowStorageMaxBytes the shadow storage maximum in bytes ({@code Long.MAX_VALUE}: unbounded)
 * @param maxShadowCopies       copies the volume may have at once
 * @param checkpointBytes       journal length that triggers a checkpoint
 * @param inlineMaintenance     run checkpoints, merges and shadow storage preparation on the calling thread instead
 *                              of in the background (deterministic tests)
 * @param prepareAheadBytes     free shadow storage kept allocated ahead of need
 * @param intentRegionBytes     granularity of copy-on-write write intents: a first touch no persistent copy needs
 *                              syncs the journal only for the first write to its region in an epoch; after a crash,
 *                              change tracking may over-report up to a region per write
 */
public record EngineOptions(long shadowStorageMaxBytes, int maxShadowCopies, long checkpointBytes,
                            boolean inlineMaintenance, long prepareAheadBytes, long intentRegionBytes) {
    public static final long DEFAULT_CHECKPOINT_BYTES = 64L << 20;
    public static final long DEFAULT_PREPARE_AHEAD_BYTES = 64L << 20;
    public static final long DEFAULT_INTENT_REGION_BYTES = 64L << 20;

    public EngineOptions {
        if (shadowStorageMaxBytes < 0 || maxShadowCopies < 1 || checkpointBytes < 1 || prepareAheadBytes < 0
                || intentRegionBytes < 1) {
            throw new IllegalArgumentException("engine options out of range: " + shadowStorageMaxBytes + ", "
                    + maxShadowCopies + ", " + checkpointBytes + ", " + prepareAheadBytes + ", " + intentRegionBytes);
        }
    }
}
