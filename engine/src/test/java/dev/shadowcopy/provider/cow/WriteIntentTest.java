package dev.shadowcopy.provider.cow;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.ChangeTracking;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * First touches that no persistent copy needs are journalled without a sync once a durable INTENT covers their
 * region. A crash may then keep the live write and lose its record: recovery must count the write as a change
 * (never miss one), and only within the intent's region (over-reporting stays bounded).
 */
class WriteIntentTest {
    private static final Path STATE = Path.of("/state/volumes");
    private static final int CHUNK = 4096;
    private static final int CHUNKS = 16;       // 4 intent regions of 4 chunks (Tuning.inline: 16 KiB regions)
    private static final long WRITTEN = 5;      // region 1 = chunks 4..7: its first touch syncs the intent
    private static final long COVERED = 7;      // region 1: its first touch, after WRITTEN's, syncs nothing
    private static final long PINNED = 6;       // region 1 too, but a persistent copy still reads it live
    /**
     * Every chunk but PINNED, in an order that no sequential stream recognises (a stream's look-ahead would
     * preserve PINNED too), and after which no remembered stream continues at WRITTEN.
     */
    private static final int[] REWRITE_ORDER = {4, 15, 14, 13, 12, 11, 10, 9, 8, 5, 7, 3, 2, 1, 0};

    @Test
    void aLostRecordUnderAnIntentCountsItsRegionAsChangedAndNothingElse() throws Exception {
        for (long seed = 0; seed < 24; seed++) {
            SimulatedStorage disk = new SimulatedStorage(seed);
            ShadowCopyInfo persistentCopy;
            ShadowCopyInfo backupCopy;
            byte[] before = Segments.random(CHUNK * CHUNKS, seed);
            VolumeManager crashed = open(disk);
            try {
                ManagedVolume v = crashed.create(VolumeConfig.sparse("v", (long) CHUNK * CHUNKS).withChunkSize(CHUNK));
                v.write(0, Segments.of(before), false);
                v.flush();
                // A persistent copy, then every chunk but PINNED rewritten (preserved for it, synced): only the
                // non-persistent copy taken next needs their content, so the first touch of WRITTEN after it is
                // journalled under an intent, without a sync of its own record.
                persistentCopy = v.createShadowCopy(ShadowCopyId.random(), true);
                for (int c : REWRITE_ORDER) {
                    v.write((long) c * CHUNK, Segments.of(Segments.filled(CHUNK, c)), false);
                }
                backupCopy = v.createShadowCopy(ShadowCopyId.random(), false);
                v.write(WRITTEN * CHUNK, Segments.of(Segments.filled(CHUNK, 99)), false);
                v.write(COVERED * CHUNK, Segments.of(Segments.filled(CHUNK, 98)), false);
                v.flush(); // the live writes are durable; COVERED's journal record need not be
                disk.crash();
            } finally {
                closeAfterCrash(crashed);
            }
            try (VolumeManager m = open(disk)) {
                ManagedVolume v = m.get("v");
                assertArrayEquals(Segments.filled(CHUNK, 98), read(v, COVERED), "flushed live write, seed " + seed);
                boolean[] changed = changedSince(v, backupCopy.sequence());
                assertTrue(changed[(int) WRITTEN], "the write to chunk 5 is reported, seed " + seed);
                // Its record was lost in some seeds (recovery without the intents misses it then: checked by
                // mutation), so only the intent can answer for it.
                assertTrue(changed[(int) COVERED], "the write to chunk 7 is reported, seed " + seed);
                assertTrue(!changed[(int) PINNED], "chunk 6 is pinned by the persistent copy, so it was not written, "
                        + "seed " + seed);
                for (int c = 0; c < CHUNKS; c++) {
                    if (c / 4 != WRITTEN / 4) {
                        assertTrue(!changed[c], "chunk " + c + " outside the intent's region is not reported, seed "
                                + seed);
                    }
                }
                assertTrue(changed[(int) WRITTEN - 1], "no creation followed the intent, so its region counts as "
                        + "written, seed " + seed);
                // The persistent copy is unharmed by the raise: chunk 4 from its preserved version, chunk 6 live.
                for (long c : new long[] {WRITTEN - 1, WRITTEN, PINNED, COVERED}) {
                    assertArrayEquals(java.util.Arrays.copyOfRange(before, (int) c * CHUNK, (int) (c + 1) * CHUNK),
                            readCopy(v, persistentCopy.id(), c), "persistent copy chunk " + c + ", seed " + seed);
                }
            }
        }
    }

    @Test
    void theRecordsRecoveryAddsSurviveTheNextCrash() throws Exception {
        SimulatedStorage disk = new SimulatedStorage(3);
        ShadowCopyInfo backupCopy;
        VolumeManager crashed = open(disk);
        try {
            ManagedVolume v = crashed.create(VolumeConfig.sparse("v", (long) CHUNK * CHUNKS).withChunkSize(CHUNK));
            v.write(0, Segments.of(Segments.random(CHUNK * CHUNKS, 1)), false);
            v.flush();
            backupCopy = v.createShadowCopy(ShadowCopyId.random(), false);
            v.write(WRITTEN * CHUNK, Segments.of(Segments.filled(CHUNK, 9)), false);
            v.flush();
            disk.crash();
        } finally {
            closeAfterCrash(crashed);
        }
        boolean[] first;
        VolumeManager recovered = open(disk);
        try {
            first = changedSince(recovered.get("v"), backupCopy.sequence());
            // A creation record after the intents resolves them at the next open: from then on only the TOUCH
            // records recovery added carry the answer (a checkpoint would too; the crash comes before one).
            recovered.get("v").createShadowCopy(ShadowCopyId.random(), false);
            disk.crash();
        } finally {
            closeAfterCrash(recovered);
        }
        try (VolumeManager m = open(disk)) {
            boolean[] again = changedSince(m.get("v"), backupCopy.sequence());
            assertTrue(again[(int) WRITTEN]);
            assertArrayEquals(first, again, "the same chunks count as changed after a second crash");
        }
    }

    private static VolumeManager open(SimulatedStorage disk) throws IOException {
        return VolumeManager.open(disk, STATE, VolumeEvents.NONE, VolumeManager.Tuning.inline(1 << 20));
    }

    /** Closing over handles from before a crash may fail: the crash already happened. */
    private static void closeAfterCrash(VolumeManager m) {
        try {
            m.close();
        } catch (IOException | RuntimeException expected) {
            // nothing reaches the disk through dead handles
        }
    }

    private static boolean[] changedSince(ManagedVolume v, int sequence) throws IOException {
        return ChangeTracking.changedChunks(v, sequence, (long) CHUNK * CHUNKS, CHUNK);
    }

    private static byte[] read(ManagedVolume v, long chunk) throws IOException {
        var s = Segments.allocate(CHUNK);
        v.read(chunk * CHUNK, s);
        return Segments.bytes(s);
    }

    private static byte[] readCopy(ManagedVolume v, ShadowCopyId id, long chunk) throws IOException {
        var s = Segments.allocate(CHUNK);
        v.shadowCopy(id).read(chunk * CHUNK, s);
        return Segments.bytes(s);
    }

}
