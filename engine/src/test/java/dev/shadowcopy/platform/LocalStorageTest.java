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
