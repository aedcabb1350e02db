package dev.shadowcopy.platform;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** {@link Storage} on the real file system. Stateless; one shared instance is enough. */
public final class LocalStorage implements Storage {
    public static final LocalStorage INSTANCE = new LocalStorage();

    private LocalStorage() {}

    @Override
    public StorageFile open(Path path, OpenMode mode) throws IOException {
        return NativeFile.open(path, mode);
    }

    @Override
    public boolean exists(Path path) {
        return Files.exists(path);
    }

    @Override
    public boolean isDirectory(Path path) {
        return Files.isDirectory(path);
    }

    @Override
    public void createDirectories(Path dir) throws IOException {
        Path absolute = dir.toAbsolutePath();
        List<Path> created = new ArrayList<>();
        for (Path p = absolute; p != null && !Files.exists(p); p = p.getParent()) {
            created.add(p);
        }
        Files.createDirectories(absolute);
        for (Path p : created) {
            NativeFile.syncDirectory(p.getParent());
        }
    }

    @Override
    public void delete(Path path) throws IOException {
        if (Files.deleteIfExists(path)) {
            NativeFile.syncDirectory(path.toAbsolutePath().getParent());
        }
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
        Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    @Override
    public void syncDirectory(Path dir) throws IOException {
        NativeFile.syncDirectory(dir.toAbsolutePath());
    }

    @Override
    public void clone(Path source, Path target) throws IOException {
        boolean created = !Files.exists(target);
        try (NativeFile from = NativeFile.open(source, OpenMode.READ);
             NativeFile to = NativeFile.open(target, OpenMode.CREATE)) {
            to.cloneFrom(from);
            long size = from.size();
            if (to.size() != size) {
                to.truncate(size); // FICLONE shares the source's extents but leaves a longer target's tail
            }
        } catch (IOException | RuntimeException e) {
            if (created) {
                Files.deleteIfExists(target); // nothing changed: the name it made goes again
            }
            throw e;
        }
    }

    @Override
    public void syncFileSystem(Path path) throws IOException {
        Path p = path.toAbsolutePath();
        NativeFile.syncFileSystem(Files.isDirectory(p) ? p : p.getParent());
    }

    @Override
    public List<String> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
