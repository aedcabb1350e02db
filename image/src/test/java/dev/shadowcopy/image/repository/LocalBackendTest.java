package dev.shadowcopy.image.repository;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The backend contract on a directory of the real file system. */
class LocalBackendTest extends RepositoryBackendContract {
    @TempDir
    Path dir;
    int n;

    @Override
    protected RepositoryBackend create() {
        return new LocalBackend(dir.resolve("repo" + n++));
    }
}
