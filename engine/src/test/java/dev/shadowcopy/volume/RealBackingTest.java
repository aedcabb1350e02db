package dev.shadowcopy.volume;

import static dev.shadowcopy.testing.Segments.bytes;
import static dev.shadowcopy.testing.Segments.filled;
import static dev.shadowcopy.testing.Segments.of;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.testing.Segments;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/** Volumes on real backings: an existing file, a loop block device, a huge sparse file, a small full FS. */
@Tag("host")
class RealBackingTest {
    private static final int CHUNK = 64 * 1024;
    @TempDir
    Path dir;

    private static byte[] read(BlockDevice d, long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        d.read(offset, s);
        return bytes(s);
    }

    @Test
    void anExistingFileIsUsedInPlaceWithItsSize() throws IOException {
        Path file = dir.resolve("disk.raw");
        Files.write(file, filled(3 << 20, 'e'));
        try (VolumeManager m = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.existing("existing", file));
            assertEquals(3L << 20, v.size());
            ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
            v.write(0, of(filled(CHUNK, 'n')), true);
            assertArrayEquals(filled(CHUNK, 'e'), read(v.shadowCopy(copy.id()), 0, CHUNK));
            m.delete("existing", true);
        }
        // the backing file stays, with the live content
        assertEquals('n', Files.readAllBytes(file)[0]);
        assertEquals(3 << 20, Files.size(file));
    }

    @Test
    void aLoopBlockDeviceWorksAsBacking() throws Exception {
        Host.requireRoot();
        Path image = dir.resolve("loop.img");
        Files.write(image, filled(8 << 20, 'L'));
        String loop = Host.run("losetup", "--find", "--show", image.toString()).strip();
        try (VolumeManager m = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.existing("blk", Path.of(loop)));
            assertEquals(8L << 20, v.size(), "size from BLKGETSIZE64");
            ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
            v.write(CHUNK, of(filled(CHUNK, 'x')), false);
            v.trim(2L * CHUNK, CHUNK, false); // discard (or zeroes) on a block device
            v.writeZeroes(3L * CHUNK, CHUNK, false, true);
            ShadowCopyDevice c = v.shadowCopy(copy.id());
            assertArrayEquals(filled(4 * CHUNK, 'L'), read(c, 0, 4 * CHUNK));
            assertArrayEquals(filled(CHUNK, 'x'), read(v, CHUNK, CHUNK));
            assertArrayEquals(new byte[2 * CHUNK], read(v, 2L * CHUNK, 2 * CHUNK));
            m.delete("blk", true);
        } finally {
            Host.run("losetup", "-d", loop);
        }
        assertEquals('x', Files.readAllBytes(image)[CHUNK]);
    }

    @Test
    void aCopyOfAFourTebibyteVolumeCopiesNoData() throws IOException {
        long size = 4L << 40;
        try (VolumeManager m = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.sparse("huge", size));
            v.write(size - CHUNK, of(filled(CHUNK, 'z')), false);
            ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
            assertEquals(0, v.shadowStorage().used(), "creation preserved nothing");
            v.write(size - CHUNK, of(filled(CHUNK, 'y')), false);
            v.write(size / 2, of(filled(CHUNK, 'y')), false);
            assertArrayEquals(filled(CHUNK, 'z'), read(v.shadowCopy(copy.id()), size - CHUNK, CHUNK));
            assertArrayEquals(new byte[CHUNK], read(v.shadowCopy(copy.id()), size / 2, CHUNK));
            assertEquals(CHUNK, v.shadowStorage().used(), "one chunk copied, the hole recorded as zeros");
            m.delete("huge", true);
        }
    }

    @Test
    void aPercentageLimitIsResolvedAgainstTheVolumeSize() throws IOException {
        try (VolumeManager m = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE)) {
            ManagedVolume v = m.create(VolumeConfig.sparse("pct", 64L << 20)
                    .withShadowStorage(ShadowStorageLimit.parse("25%")));
            assertEquals(16L << 20, v.shadowStorage().maximum());
            m.resizeShadowStorage("pct", ShadowStorageLimit.parse("unbounded"));
            assertEquals(-1, v.shadowStorage().maximum());
        }
    }

    /**
     * Shadow storage on a real 48 MiB ext4 that fills up: the oldest copies are released, the live writes
     * all succeed, and the copies that remain are exact.
     */
    @Test
    void aFullFileSystemUnderShadowStorageReleasesOldestCopiesAndLiveWritesSucceed() throws Exception {
        Host.requireRoot();
        Path img = dir.resolve("small-fs.img");
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        Host.run("truncate", "-s", "48M", img.toString());
        Host.run("mkfs.ext4", "-q", "-F", img.toString());
        Host.run("mount", "-o", "loop", img.toString(), mnt.toString());
        List<String> released = new ArrayList<>();
        try {
            VolumeEvents events = new VolumeEvents() {
                @Override
                public void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {
                    released.add(copy.id() + " " + reason);
                }
            };
            try (VolumeManager m = VolumeManager.open(dir.resolve("volumes"), events)) {
                ManagedVolume v = m.create(VolumeConfig.sparse("full", 64L << 20).withShadowStorageDir(mnt));
                byte[] content = Segments.random(64 << 20, 3);
                v.write(0, of(content), true);
                List<ShadowCopyInfo> copies = new ArrayList<>();
                List<byte[]> expected = new ArrayList<>();
                for (int round = 0; round < 4; round++) {
                    copies.add(v.createShadowCopy(ShadowCopyId.random(), true));
                    expected.add(content.clone());
                    byte[] next = Segments.random(64 << 20, 10 + round);
                    v.write(0, of(next), false); // 64 MiB of first touches: needs 64 MiB of shadow storage
                    content = next;
                }
                assertArrayEquals(content, read(v, 0, 64 << 20), "every live write succeeded");
                assertFalse(released.isEmpty(), "a 48 MiB file system cannot hold the copies");
                assertTrue(released.getFirst().contains("full"), released.getFirst());
                List<ShadowCopyId> remaining = v.shadowCopies().stream().map(ShadowCopyInfo::id).toList();
                for (int i = 0; i < copies.size(); i++) {
                    if (remaining.contains(copies.get(i).id())) {
                        assertArrayEquals(expected.get(i), read(v.shadowCopy(copies.get(i).id()), 0, 64 << 20),
                                "remaining copy " + i + " is exact");
                    }
                }
                // released ones are the oldest: the remaining ones are a suffix
                List<ShadowCopyId> all = copies.stream().map(ShadowCopyInfo::id).toList();
                assertEquals(all.subList(all.size() - remaining.size(), all.size()), remaining);
                m.delete("full", true);
            }
        } finally {
            Host.run("umount", mnt.toString());
        }
    }
}
