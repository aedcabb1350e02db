package dev.shadowcopy.provider;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.ChangeTracking;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.ManagedVolume;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The simple in-memory truth a volume is checked against: the live bytes, what of them is durable, and the
 * exact content every shadow copy must read back.
 *
 * <p>Durability rule checked after a crash: a byte must hold its value as of the last completed flush, or
 * any value written to it since (unflushed writes may or may not have reached the disk, sector by sector).
 * A shadow copy whose creation returned must exist and be exact; one whose creation or deletion was cut by
 * the crash may exist or not, but if it exists it is exact.
 */
final class VolumeModel {
    final int size;
    byte[] live;
    /** Per byte: durable value as of the last flush. */
    byte[] flushed;
    /** Writes since the last flush, in order: (offset, bytes). */
    final List<Object[]> pending = new ArrayList<>();
    /** Copies by id, oldest first. */
    final LinkedHashMap<ShadowCopyId, Copy> copies = new LinkedHashMap<>();
    /** Every copy ever created with a known sequence, deleted or not: incrementals ask "changed since" those too. */
    final java.util.List<Copy> history = new java.util.ArrayList<>();

    static final class Copy {
        final byte[] content;
        final boolean persistent;
        final int sequence;
        boolean inDoubt;

        Copy(byte[] content, boolean persistent, int sequence, boolean inDoubt) {
            this.content = content;
            this.persistent = persistent;
            this.sequence = sequence;
            this.inDoubt = inDoubt;
        }
    }

    VolumeModel(int size) {
        this.size = size;
        this.live = new byte[size];
        this.flushed = new byte[size];
    }

    void write(long offset, byte[] data) {
        System.arraycopy(data, 0, live, (int) offset, data.length);
        pending.add(new Object[] {offset, data.clone()});
    }

    void flush() {
        flushed = live.clone();
        pending.clear();
    }

    /** After a crash: checks the recovered live bytes against the durability rule and adopts them. */
    void checkRecoveredLive(byte[] recovered, byte[] alternativeExact) {
        if (alternativeExact != null && Arrays.equals(recovered, alternativeExact)) {
            adopt(recovered);
            return;
        }
        for (int i = 0; i < size; i++) {
            if (recovered[i] == flushed[i]) {
                continue;
            }
            boolean ok = false;
            for (Object[] w : pending) {
                long off = (Long) w[0];
                byte[] d = (byte[]) w[1];
                if (i >= off && i < off + d.length && d[(int) (i - off)] == recovered[i]) {
                    ok = true;
                    break;
                }
            }
            if (!ok) {
                fail("live byte " + i + " is " + recovered[i] + " after recovery; durable value was " + flushed[i]
                        + " and no write since the last flush wrote that value there");
            }
        }
        adopt(recovered);
    }

    private void adopt(byte[] recovered) {
        live = recovered.clone();
        flushed = recovered.clone();
        pending.clear();
    }

    /** Checks the volume's copies against the model and reconciles in-doubt ones. */
    void checkCopies(ManagedVolume v, Set<ShadowCopyId> releasedByEngine) throws IOException {
        checkCopies(v, releasedByEngine, false);
    }

    /**
     * As above; with {@code oldestMayBeReleased} (a write was cut short while it may have been releasing copies
     * to make room, before it could report them), any number of the oldest copies may be gone.
     */
    void checkCopies(ManagedVolume v, Set<ShadowCopyId> releasedByEngine, boolean oldestMayBeReleased)
            throws IOException {
        Map<ShadowCopyId, ShadowCopyInfo> actual = new LinkedHashMap<>();
        for (ShadowCopyInfo info : v.shadowCopies()) {
            actual.put(info.id(), info);
        }
        for (ShadowCopyId gone : releasedByEngine) {
            copies.remove(gone);
            assertTrue(!actual.containsKey(gone), "copy " + gone + " was reported released but is listed");
        }
        releasedByEngine.clear();
        boolean prefix = oldestMayBeReleased;
        for (var it = copies.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!actual.containsKey(e.getKey())) {
                assertTrue(e.getValue().inDoubt || prefix, "shadow copy " + e.getKey() + " (sequence "
                        + e.getValue().sequence + ") vanished though its creation returned and nothing deleted it");
                it.remove();
            } else {
                if (e.getValue().inDoubt && e.getValue().sequence < 0) {
                    history.add(new Copy(e.getValue().content, true, actual.get(e.getKey()).sequence(), false));
                }
                e.getValue().inDoubt = false;
                prefix = false; // released copies are always the oldest ones
            }
        }
        for (ShadowCopyId id : actual.keySet()) {
            assertTrue(copies.containsKey(id), "engine lists a shadow copy " + id + " the model never created");
        }
        for (var e : copies.entrySet()) {
            assertArrayEquals(e.getValue().content, readCopy(v, e.getKey(), 0, size),
                    "content of shadow copy " + e.getKey());
            MemorySegment direct = java.lang.foreign.Arena.ofAuto().allocate(size, 4096); // a backup's read
            v.shadowCopy(e.getKey()).readUncached(0, direct);
            assertArrayEquals(e.getValue().content, Segments.bytes(direct),
                    "content of shadow copy " + e.getKey() + " read past the page cache");
        }
        List<ShadowCopyId> order = new ArrayList<>(actual.keySet());
        assertEquals(order, new ArrayList<>(copies.keySet()), "copies oldest first");
    }

    /**
     * Change tracking must never miss a change: every chunk where the live volume differs from a copy is
     * reported as changed since that copy's sequence (reporting more is allowed).
     */
    void checkChangeTracking(ManagedVolume v, int chunkSize) throws IOException {
        for (Copy past : history) {
            int seq = past.sequence;
            if (seq < v.trackingSince()) {
                continue; // tracking cannot vouch for it, and says so
            }
            boolean[] changed = ChangeTracking.changedChunks(v, seq, size, chunkSize);
            ChangeTracking.assertNoMissedChange(changed, live, past.content, chunkSize,
                    "the shadow copy with sequence " + seq);
        }
    }

    static byte[] readCopy(ManagedVolume v, ShadowCopyId id, long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        v.shadowCopy(id).read(offset, s);
        return Segments.bytes(s);
    }

    static byte[] readLive(ManagedVolume v, long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        v.read(offset, s);
        return Segments.bytes(s);
    }
}
