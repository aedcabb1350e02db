package dev.shadowcopy.platform;

import dev.shadowcopy.testing.StorageContract;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The real file system under the test's temporary directory (ext4 here: no extent sharing). */
class LocalStorageTest extends StorageContract {
    @TempDir
    Path tmp;

    @Override
    protected Storage newStorage() {
        return LocalStorage.INSTANCE;
    }

    @Override
    protected Path workDirectory() {
        return tmp;
    }

    /**
     * An uncached read really goes past the page cache: it opens a second descriptor of the file with O_DIRECT
     * (fdinfo's flags), which the buffered path never does. Without it the backup's speed would silently regress.
     */
    @org.junit.jupiter.api.Test
    void anAlignedUncachedReadUsesADirectDescriptorAndAnUnalignedOneDoesNot() throws IOException {
        Path p = tmp.resolve("direct");
        Files.write(p, new byte[1 << 20]);
        try (var probe = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.READ,
                com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
            org.junit.jupiter.api.Assumptions.assumeTrue(probe.isOpen());
        } catch (IOException e) {
            org.junit.jupiter.api.Assumptions.abort("this file system refuses O_DIRECT: " + e.getMessage());
        }
        try (StorageFile f = LocalStorage.INSTANCE.open(p, OpenMode.READ);
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            f.readUncached(4096, arena.allocate(4096, 4096).asSlice(0, 4096).asSlice(0, 100)); // not whole blocks
            org.junit.jupiter.api.Assertions.assertEquals(0, directDescriptors(p), "an unaligned read is buffered");
            f.readUncached(65536, arena.allocate(65536, 4096));
            org.junit.jupiter.api.Assertions.assertEquals(1, directDescriptors(p), "an aligned read is direct");
        }
        org.junit.jupiter.api.Assertions.assertEquals(0, directDescriptors(p), "closed with the file");
    }

    /** Descriptors of this process open on {@code p} with O_DIRECT (040000 in fdinfo's octal flags). */
    private static long directDescriptors(Path p) throws IOException {
        long n = 0;
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    if (!Files.readSymbolicLink(fd).equals(p.toRealPath())) {
                        continue;
                    }
                    for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo").resolve(fd.getFileName()))) {
                        if (line.startsWith("flags:") && (Long.parseLong(line.substring(6).trim(), 8) & 040000) != 0) {
                            n++;
                        }
                    }
                } catch (IOException e) {
                    // a descriptor closed meanwhile (the listing's own)
                }
            }
        }
        return n;
    }

    /** ext4 and tmpfs cannot share extents; XFS with reflink=1 and btrfs can ({@code LocalStorageOnXfsTest}). */
    @Override
    protected boolean canClone() {
        try {
            return !java.util.Set.of("ext2", "ext3", "ext4", "tmpfs").contains(Files.getFileStore(tmp).type());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
