package dev.shadowcopy.volume;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.testing.XfsMount;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * The reflink layout on a real XFS file system (reflink=1) on a loop device: copies are FICLONE clones that keep
 * their content while the volume is rewritten, survive a reopen, revert instantly, and an interrupted creation
 * leaves nothing behind. A file system that cannot clone is refused with a clear error.
 */
@Tag("host")
class ReflinkLayoutTest {
    static final long SIZE = 8 << 20;

    @TempDir
    Path tmp;
    Path mnt;
    XfsMount xfs;

    @BeforeEach
    void mountXfs() throws IOException {
        xfs = XfsMount.create(tmp, "320M");
        mnt = xfs.path();
    }

    @AfterEach
    void unmount() throws IOException {
        if (xfs != null) {
            xfs.close();
        }
    }

    static byte[] read(BlockDevice d) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(d.size());
            d.read(0, s);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    static void scribble(ManagedVolume v, Random r, byte[] model) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            for (int i = 0; i < 20; i++) {
                int len = 1 + r.nextInt(200_000);
                int off = r.nextInt((int) SIZE - len);
                byte[] b = new byte[len];
                r.nextBytes(b);
                System.arraycopy(b, 0, model, off, len);
                MemorySegment s = a.allocate(len);
                MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, len);
                v.write(off, s, false);
            }
        }
    }

    @Test
    void clonesKeepEveryCopyExactAcrossRewritesReopenAndRevert() throws IOException {
        Path backing = mnt.resolve("disk.img");
        Host.run("truncate", "-s", Long.toString(SIZE), backing.toString());
        Random r = new Random(7);
        byte[] model = new byte[(int) SIZE];
        List<byte[]> expected = new ArrayList<>();
        List<ShadowCopyId> ids = new ArrayList<>();
        try (VolumeManager m = VolumeManager.open(tmp.resolve("state"), VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.existing("r", backing).withLayout(VolumeLayout.REFLINK));
            for (int round = 0; round < 4; round++) {
                scribble(v, r, model);
                ShadowCopyInfo c = v.createShadowCopy(ShadowCopyId.random(), true);
                ids.add(c.id());
                expected.add(model.clone());
            }
            scribble(v, r, model);
            for (int i = 0; i < ids.size(); i++) {
                assertArrayEquals(expected.get(i), read(v.shadowCopy(ids.get(i))), "copy " + i);
            }
            assertArrayEquals(model, read(v));
            assertTrue(v.deleteShadowCopy(ids.get(1)));
            assertThrows(VolumeException.class, () -> v.mapChangesSince(0, 0, SIZE, (o, l, f) -> true));
        }
        try (VolumeManager m = VolumeManager.open(tmp.resolve("state"), VolumeEvents.NONE)) {
            ManagedVolume v = m.get("r");
            assertEquals(3, v.shadowCopies().size());
            assertArrayEquals(expected.get(2), read(v.shadowCopy(ids.get(2))));
            v.revert(ids.get(0));
            assertArrayEquals(expected.get(0), read(v));
            assertEquals(1, v.shadowCopies().size(), "later copies go with a revert");
            // A creation interrupted after the clone: the leftover is removed at the next open.
            Path leftover = backing.resolveSibling(".disk.img.copies").resolve(ShadowCopyId.random() + ".img.tmp");
            Files.writeString(leftover, "torn");
        }
        try (VolumeManager m = VolumeManager.open(tmp.resolve("state"), VolumeEvents.NONE)) {
            assertEquals(1, m.get("r").shadowCopies().size());
            try (var s = Files.list(backing.resolveSibling(".disk.img.copies"))) {
                assertEquals(1, s.count());
            }
        }
    }

    @Test
    void aSplitMirrorOnXfsIsBackInStepAtOnceByCloningTheSplit() throws IOException {
        Random r = new Random(11);
        byte[] model = new byte[(int) SIZE];
        List<byte[]> expected = new ArrayList<>();
        List<ShadowCopyId> ids = new ArrayList<>();
        try (VolumeManager m = VolumeManager.open(mnt.resolve("state"), VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.sparse("mir", SIZE).withLayout(VolumeLayout.SPLIT_MIRROR));
            for (int round = 0; round < 5; round++) {
                scribble(v, r, model);
                if (round == 0) {
                    // the very first mirror is built by a resync; wait for it once
                    long end = System.nanoTime() + 30_000_000_000L;
                    while (true) {
                        try {
                            ids.add(v.createShadowCopy(ShadowCopyId.random(), true).id());
                            break;
                        } catch (VolumeException e) {
                            assertEquals(VolumeException.Code.RESYNC_IN_PROGRESS, e.code());
                            assertTrue(System.nanoTime() < end);
                        }
                    }
                } else {
                    // later splits never wait: the new mirror is a clone of the split, in step at once
                    ids.add(v.createShadowCopy(ShadowCopyId.random(), true).id());
                }
                expected.add(model.clone());
            }
            scribble(v, r, model);
            for (int i = 0; i < ids.size(); i++) {
                assertArrayEquals(expected.get(i), read(v.shadowCopy(ids.get(i))), "split " + i);
            }
            assertArrayEquals(model, read(v));
        }
    }

    @Test
    void aFileSystemThatCannotCloneIsRefusedClearly() throws IOException {
        Path backing = tmp.resolve("on-tmp.img");
        Host.run("truncate", "-s", Long.toString(SIZE), backing.toString());
        boolean canClone;
        try {
            Host.run("cp", "--reflink=always", backing.toString(), tmp.resolve("probe").toString());
            canClone = true;
        } catch (IOException e) {
            canClone = false;
        }
        org.junit.jupiter.api.Assumptions.assumeFalse(canClone, "the temp directory's file system clones files");
        try (VolumeManager m = VolumeManager.open(tmp.resolve("state2"), VolumeEvents.NONE)) {
            VolumeException e = assertThrows(VolumeException.class,
                    () -> m.create(VolumeConfig.existing("x", backing).withLayout(VolumeLayout.REFLINK)));
            assertTrue(e.getMessage().contains("cannot clone"), e.getMessage());
            assertTrue(m.find("x").isEmpty());
        }
    }
}
