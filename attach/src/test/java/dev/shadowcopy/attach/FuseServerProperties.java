package dev.shadowcopy.attach;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.shadowcopy.attach.fuse.FuseConnection;
import dev.shadowcopy.attach.fuse.FuseMount;
import dev.shadowcopy.attach.fuse.FuseServer;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.testing.MemoryDevice;
import dev.shadowcopy.testing.Segments;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The whole kernel path — a loop device over the file our FUSE server serves — against a byte-array model:
 * random writes, reads, discards and flushes through {@code /dev/loopN}; every read matches the model, and
 * after the last flush (and the loop device's cache dropped) the device and the served block device both
 * equal the model.
 */
class FuseServerProperties {
    private static final int SIZE = 8 << 20;
    private static final int SECTOR = 512;

    record Op(int kind, int sector, int sectors, int seed) {}

    @Provide
    Arbitrary<List<Op>> ops() {
        return Combinators.combine(Arbitraries.integers().between(0, 6), Arbitraries.integers().between(0,
                SIZE / SECTOR - 1), Arbitraries.integers().between(1, 600), Arbitraries.integers())
                .as(Op::new).list().ofMinSize(5).ofMaxSize(60);
    }

    @Property(tries = 20)
    void theLoopDeviceReadsBackWhatWasWrittenThroughIt(@ForAll("ops") List<Op> ops, @ForAll int seed)
            throws Exception {
        Host.requireRoot();
        byte[] model = Segments.random(SIZE, seed);
        MemoryDevice device = new MemoryDevice(model.clone(), false);
        Path dir = Files.createTempDirectory("fuse-prop");
        FuseConnection conn = FuseMount.mount(dir, false);
        FuseServer server = FuseServer.start(conn, device, false, 4, "prop");
        String loop = Host.run("losetup", "--find", "--show", "--direct-io=on", dir.resolve("disk").toString()).strip();
        try (FileChannel ch = FileChannel.open(Path.of(loop), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            for (Op op : ops) {
                int off = op.sector() * SECTOR;
                int len = Math.min(op.sectors() * SECTOR, SIZE - off);
                switch (op.kind()) {
                    case 0, 1, 2 -> {
                        byte[] data = Segments.random(len, op.seed());
                        write(ch, off, data);
                        System.arraycopy(data, 0, model, off, len);
                    }
                    case 3 -> {
                        ch.force(false); // FSYNC: every answered write durable
                    }
                    case 4 -> {
                        ch.force(false);
                        Host.run("blkdiscard", "-o", Integer.toString(off), "-l", Integer.toString(len), loop);
                        Arrays.fill(model, off, off + len, (byte) 0);
                    }
                    default -> assertArrayEquals(Arrays.copyOfRange(model, off, off + len), read(ch, off, len),
                            "read of " + len + " bytes at " + off);
                }
            }
            ch.force(false);
        }
        try {
            Host.run("blockdev", "--flushbufs", loop);
            try (FileChannel ch = FileChannel.open(Path.of(loop), StandardOpenOption.READ)) {
                assertArrayEquals(model, read(ch, 0, SIZE), "the loop device after a flush");
            }
            assertArrayEquals(model, device.data(), "the served device");
        } finally {
            Host.run("losetup", "-d", loop);
            FuseServerTest.awaitLoopGone(loop);
            FuseMount.unmount(dir, false);
            server.close();
            Files.deleteIfExists(dir);
        }
    }

    private static void write(FileChannel ch, long off, byte[] data) throws java.io.IOException {
        ByteBuffer b = ByteBuffer.wrap(data);
        while (b.hasRemaining()) {
            ch.write(b, off + b.position());
        }
    }

    private static byte[] read(FileChannel ch, long off, int len) throws java.io.IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        while (b.hasRemaining()) {
            if (ch.read(b, off + b.position()) < 0) {
                break;
            }
        }
        return b.array();
    }
}
