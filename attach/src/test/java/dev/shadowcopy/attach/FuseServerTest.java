package dev.shadowcopy.attach;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.attach.fuse.FuseConnection;
import dev.shadowcopy.attach.fuse.FuseMount;
import dev.shadowcopy.attach.fuse.FuseServer;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.testing.MemoryDevice;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/** Our FUSE server under a real loop device: what the kernel sends, byte for byte. */
@Tag("host")
class FuseServerTest {
    @TempDir
    Path tmp;

    @Test
    void aLoopDeviceOverTheServedFileReadsAndWritesTheDevice() throws Exception {
        Host.requireRoot();
        byte[] data = new byte[64 << 20];
        new Random(1).nextBytes(data);
        MemoryDevice device = new MemoryDevice(data.clone(), false);
        Path dir = Files.createDirectories(tmp.resolve("m"));
        FuseConnection conn = FuseMount.mount(dir, false);
        FuseServer server = FuseServer.start(conn, device, false, 4, "test");
        String loop = null;
        try {
            assertEquals(data.length, Files.size(dir.resolve("disk")));
            loop = Host.run("losetup", "--find", "--show", "--direct-io=on", dir.resolve("disk").toString()).strip();
            byte[] read = Files.readAllBytes(Path.of(loop));
            assertArrayEquals(data, read);
            byte[] block = new byte[1 << 20];
            new Random(2).nextBytes(block);
            try (RandomAccessFile f = new RandomAccessFile(loop, "rw")) {
                f.seek(3 << 20);
                f.write(block);
                f.getFD().sync();
            }
            System.arraycopy(block, 0, data, 3 << 20, block.length);
            assertArrayEquals(data, device.data());
            Host.run("blkdiscard", "-o", String.valueOf(8 << 20), "-l", String.valueOf(1 << 20), loop);
            for (int i = 8 << 20; i < 9 << 20; i++) {
                assertEquals(0, device.data()[i], "discarded byte " + i);
            }
            assertTrue(server.requests() > 0);
        } finally {
            if (loop != null) {
                Host.run("losetup", "-d", loop);
            }
            awaitLoopGone(loop);
            FuseMount.unmount(dir, false);
            server.close();
            assertTrue(server.ended());
        }
    }

    static void awaitLoopGone(String loop) throws Exception {
        if (loop == null) {
            return;
        }
        Path backing = Path.of("/sys/block", Path.of(loop).getFileName().toString(), "loop", "backing_file");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (Files.exists(backing) && System.nanoTime() < deadline) {
            Thread.onSpinWait();
            Thread.sleep(5);
        }
    }
}
