package dev.shadowcopy.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/** The server against the real clients: nbdinfo, qemu-io, qemu-img, nbdcopy. */
@Tag("host")
class RealClientsTest {
    private static final int MIB = 1 << 20;
    @TempDir
    Path dir;
    NbdFixture nbd;
    ManagedVolume vol;

    @BeforeEach
    void start() throws IOException {
        for (String p : List.of("nbdinfo", "qemu-io", "qemu-img", "nbdcopy")) {
            Host.requireProgram(p);
        }
        nbd = new NbdFixture(dir);
        vol = nbd.volumes.create(VolumeConfig.sparse("vol", 64L * MIB));
    }

    @AfterEach
    void stop() throws IOException {
        nbd.close();
    }

    private byte[] read(long offset, int length) throws IOException {
        MemorySegment s = Segments.allocate(length);
        vol.read(offset, s);
        return Segments.bytes(s);
    }

    @Test
    void listShowsVolumesAndShadowCopies() throws IOException {
        ShadowCopyInfo copy = vol.createShadowCopy(ShadowCopyId.random(), true);
        String out = Host.run("nbdinfo", "--list", nbd.uri(""));
        assertTrue(out.contains("export=\"vol\""), out);
        assertTrue(out.contains("export=\"shadow/" + copy.id() + "\""), out);
        assertTrue(out.contains("is_read_only: true") && out.contains("is_read_only: false"), "the copy is read-only, the volume is not: " + out);
    }

    @Test
    void qemuIoPatternWritesReadBackAndLandInTheVolume() throws IOException {
        Host.run("qemu-io", "-f", "raw", "-c", "write -P 0xab 1M 2M", "-c", "read -P 0xab 1M 2M",
                "-c", "write -z 2M 64k", "-c", "read -P 0 2M 64k", "-c", "flush", nbd.uri("vol"));
        byte[] expect = Segments.filled(MIB, 0xab);
        assertArrayEquals(expect, read(MIB, MIB));
        assertArrayEquals(new byte[64 * 1024], read(2L * MIB, 64 * 1024));
    }

    @Test
    void baseAllocationShowsHolesOfAFreshVolumeAndDataWhereWritten() throws IOException {
        String empty = Host.run("nbdinfo", "--map", nbd.uri("vol"));
        assertTrue(empty.contains("hole,zero"), empty);
        assertTrue(!empty.contains("data"), "a fresh sparse volume has no data: " + empty);
        vol.write(4L * MIB, Segments.of(Segments.filled(MIB, 1)), true);
        String map = Host.run("nbdinfo", "--map", nbd.uri("vol"));
        assertTrue(map.lines().anyMatch(l -> l.trim().startsWith(String.valueOf(4L * MIB)) && l.contains("data")), map);
    }

    @Test
    void aWriteToAShadowCopyExportFailsWithEpermAndChangesNothing() throws IOException {
        vol.write(0, Segments.of(Segments.filled(MIB, 7)), true);
        ShadowCopyInfo copy = vol.createShadowCopy(ShadowCopyId.random(), true);
        IOException e = assertThrows(IOException.class, () -> Host.run("qemu-io", "-f", "raw",
                "-c", "write -P 0x55 0 64k", nbd.uri("shadow/" + copy.id())));
        assertTrue(e.getMessage().contains("Operation not permitted") || e.getMessage().contains("read-only")
                || e.getMessage().contains("Permission denied"), e.getMessage());
        MemorySegment s = Segments.allocate(MIB);
        vol.shadowCopy(copy.id()).read(0, s);
        assertArrayEquals(Segments.filled(MIB, 7), Segments.bytes(s));
    }

    @Test
    void qemuImgCompareFindsTheCopyEqualToARawImageTakenAtTheSameInstant() throws IOException {
        Host.run("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 8M", "-c", "write -P 0x22 20M 3M",
                "-c", "flush", nbd.uri("vol"));
        Path raw = dir.resolve("instant.raw");
        MemorySegment all = Segments.allocate(64L * MIB);
        vol.read(0, all);
        Files.write(raw, Segments.bytes(all)); // no writes between this and the copy
        ShadowCopyInfo copy = vol.createShadowCopy(ShadowCopyId.random(), true);
        Host.run("qemu-io", "-f", "raw", "-c", "write -P 0x33 0 30M", "-c", "flush", nbd.uri("vol"));
        String out = Host.run("qemu-img", "compare", "-f", "raw", "-F", "raw", raw.toString(),
                nbd.uri("shadow/" + copy.id()));
        assertTrue(out.contains("Images are identical"), out);
        IOException differs = assertThrows(IOException.class, () -> Host.run("qemu-img", "compare", "-f", "raw",
                "-F", "raw", raw.toString(), nbd.uri("vol")));
        assertTrue(differs.getMessage().contains("mismatch"), differs.getMessage());
    }

    @Test
    void nbdcopyRoundTripsAFileThroughAVolume() throws IOException {
        Path in = dir.resolve("in.raw");
        Path out = dir.resolve("out.raw");
        Files.write(in, Segments.random(64 * MIB, 5));
        Host.run("nbdcopy", in.toString(), nbd.uri("vol"));
        Host.run("nbdcopy", nbd.uri("vol"), out.toString());
        assertEquals(-1, Files.mismatch(in, out));
    }

    @Test
    void theDirtyBitmapOfACopyShowsExactlyTheChunksWrittenSinceIt() throws IOException {
        vol.write(0, Segments.of(Segments.filled(8 * MIB, 1)), true);
        ShadowCopyInfo before = vol.createShadowCopy(ShadowCopyId.random(), true);
        vol.write(3L * MIB, Segments.of(Segments.filled(128 * 1024, 2)), true); // chunks 48, 49
        vol.write(40L * MIB + 10, Segments.of(Segments.filled(10, 3)), true);   // chunk 640
        String map = Host.run("nbdinfo", "--map=qemu:dirty-bitmap:" + before.id(), nbd.uri("vol"));
        List<String> dirty = map.lines().filter(l -> l.contains("dirty")).map(String::trim).toList();
        assertEquals(List.of(3L * MIB + "  " + 128 * 1024 + "    1  dirty",
                40L * MIB + "  " + 64 * 1024 + "    1  dirty").size(), dirty.size(), map);
        assertTrue(dirty.get(0).startsWith(String.valueOf(3L * MIB)) && dirty.get(0).contains(String.valueOf(128 * 1024)),
                map);
        assertTrue(dirty.get(1).startsWith(String.valueOf(40L * MIB)) && dirty.get(1).contains(String.valueOf(64 * 1024)),
                map);
        // also answerable by sequence number after the copy is gone
        vol.deleteShadowCopy(before.id());
        String bySeq = Host.run("nbdinfo", "--map=qemu:dirty-bitmap:seq-" + before.sequence(), nbd.uri("vol"));
        assertEquals(2, bySeq.lines().filter(l -> l.contains("dirty")).count(), bySeq);
    }
}
