package dev.shadowcopy.platform;

import dev.shadowcopy.testing.StorageContract;
import dev.shadowcopy.testing.XfsMount;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

/** The real file system where extents can be shared (XFS, reflink=1): clones are made, not refused. */
@Tag("host")
class LocalStorageOnXfsTest extends StorageContract {
    @TempDir
    Path tmp;
    private XfsMount xfs;

    @Override
    protected Storage newStorage() throws IOException {
        xfs = XfsMount.create(tmp, "320M");
        return LocalStorage.INSTANCE;
    }

    @Override
    protected Path workDirectory() {
        return xfs.path();
    }

    @Override
    protected boolean canClone() {
        return true;
    }

    @AfterEach
    void unmount() throws IOException {
        if (xfs != null) {
            xfs.close();
        }
    }
}
