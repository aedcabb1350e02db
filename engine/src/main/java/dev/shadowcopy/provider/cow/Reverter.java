package dev.shadowcopy.provider.cow;

import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.StorageFile;
import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.provider.store.SlotStore;
import dev.shadowcopy.provider.store.VersionIndex;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes the live volume equal to a shadow copy: every chunk written after the copy's epoch gets the copy's
 * version back, and the volume is synced. Idempotent, so a revert interrupted by a crash is simply run again at open
 * (its begin record is durable, its end record is not). Runs with all I/O to the volume held; the engine writes the
 * end record afterwards.
 */
final class Reverter {
    private final ChunkEpochs liveEpoch;
    private final VersionIndex versions;
    private final SlotStore slots;
    private final StorageFile origin;
    private final int chunkSize;
    private final long size;
    private final String volume;

    Reverter(ChunkEpochs liveEpoch, VersionIndex versions, SlotStore slots, StorageFile origin, int chunkSize,
             long size, String volume) {
        this.liveEpoch = liveEpoch;
        this.versions = versions;
        this.slots = slots;
        this.origin = origin;
        this.chunkSize = chunkSize;
        this.size = size;
        this.volume = volume;
    }

    void run(Shadow target) throws IOException {
        List<long[]> runs = new ArrayList<>();
        liveEpoch.forEachRun((first, count, e) -> {
            if (e > target.epoch) {
                runs.add(new long[] {first, count});
            }
        });
        int shift = Integer.numberOfTrailingZeros(chunkSize);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(chunkSize, 4096);
            for (long[] run : runs) {
                for (long c = run[0]; c < run[0] + run[1]; c++) {
                    long start = c << shift;
                    int len = (int) Math.min(chunkSize, size - start);
                    int slot = versions.find(c, target.epoch);
                    if (slot == VersionIndex.ZERO) {
                        origin.punchHole(start, len);
                    } else if (slot >= 0) {
                        MemorySegment piece = buf.asSlice(0, len);
                        slots.read(slot, 0, piece);
                        origin.write(start, piece);
                    } else {
                        throw new VolumeException(VolumeException.Code.CORRUPT, "volume " + volume + ": cannot "
                                + "revert to shadow copy " + target.id + ": chunk " + c + " has no preserved version");
                    }
                }
            }
        }
        origin.sync(); // every reverted chunk is durable before the end record says so
    }
}
