package dev.shadowcopy.provider.cow;

import dev.shadowcopy.provider.store.VersionIndex;
import dev.shadowcopy.provider.store.ShadowRegistry;
import dev.shadowcopy.provider.store.ShadowRegistry.Shadow;
import dev.shadowcopy.device.VolumeException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes the live volume equal to a shadow copy: every chunk written after the copy's epoch gets the copy's
 * version back. Idempotent, so a revert interrupted by a crash is simply run again at open (its begin
 * record is durable, its end record is not). Runs with all I/O to the volume held.
 */
final class Reverter {
    private Reverter() {}

    static void run(CowEngine eng, Shadow target) throws IOException {
        List<long[]> runs = new ArrayList<>();
        eng.epochs.forEachRun((first, count, e) -> {
            if (e > target.epoch) {
                runs.add(new long[] {first, count});
            }
        });
        int shift = eng.shift();
        MemorySegment buf = java.lang.foreign.Arena.ofAuto().allocate(eng.chunkSize(), 4096);
        for (long[] run : runs) {
            for (long c = run[0]; c < run[0] + run[1]; c++) {
                long start = c << shift;
                int len = (int) Math.min(eng.chunkSize(), eng.size() - start);
                int slot = eng.index.find(c, target.epoch);
                if (slot == VersionIndex.ZERO) {
                    eng.origin().punchHole(start, len);
                } else if (slot >= 0) {
                    MemorySegment piece = buf.asSlice(0, len);
                    eng.diff.read(slot, 0, piece);
                    eng.origin().write(start, piece);
                } else {
                    throw new VolumeException(VolumeException.Code.CORRUPT, "volume " + eng.volume + ": cannot revert "
                            + "to shadow copy " + target.id + ": chunk " + c + " has no preserved version");
                }
            }
        }
        eng.origin().sync(); // every reverted chunk is durable before the end record says so
        eng.finishRevert(target, eng.epoch + 1);
    }
}
