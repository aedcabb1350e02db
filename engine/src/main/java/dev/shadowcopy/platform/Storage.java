package dev.shadowcopy.platform;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The file-system operations the engine performs, so that a test can run the real engine on a
 * simulated disk that fails the N-th write or forgets everything not yet synced ({@code SimulatedStorage}
 * in the test jar). {@link LocalStorage} is the real one.
 *
 * <p>Durability rules every implementation honours: file contents are durable after
 * {@link StorageFile#sync()}; the existence of a name (create, rename, delete) is durable after
 * {@link #syncDirectory} of its parent directory.
 */
public interface Storage {

    StorageFile open(Path path, OpenMode mode) throws IOException;

    boolean exists(Path path);

    boolean isDirectory(Path path);

    /** Creates a directory (and parents); durable on return. */
    void createDirectories(Path dir) throws IOException;

    /** Removes a file if present; durable on return. */
    void delete(Path path) throws IOException;

    /** Atomic rename (replaces the target); not durable until the directory is synced. */
    void rename(Path from, Path to) throws IOException;

    void syncDirectory(Path dir) throws IOException;

    /** Names (not paths) of the entries of a directory, sorted. */
    List<String> list(Path dir) throws IOException;

    /**
     * Makes {@code target} an instant copy of {@code source} that shares its extents (FICLONE: XFS with
     * reflink=1, btrfs): same content, same size, and writes to either never show in the other. {@code target} is
     * created if missing and replaced whole if present (a file another handle has open sees the new content). No
     * data is copied, so this is O(extents), whatever the size.
     *
     * <p>Durability as for a write: the target's content is durable after a {@link StorageFile#sync()} of it (or
     * {@link #syncFileSystem}), a new name after {@link #syncDirectory} of its parent.
     *
     * @throws CloneUnsupportedException when the file system cannot share extents between the two (no reflink
     *                                   support, different file systems); nothing was changed
     */
    void clone(Path source, Path target) throws IOException;

    /**
     * syncfs(2) of the file system holding {@code path} (a file or directory): every file written and every name
     * created, renamed or deleted on it is durable on return. One call instead of a sync per file where many files
     * were written; it also flushes other writers' data on that file system.
     */
    void syncFileSystem(Path path) throws IOException;

    /**
     * The one way to publish a durable small file: write {@code content} to a temporary name, sync it,
     * rename it over {@code target}, sync the directory. On failure the temporary is removed and the
     * previous {@code target} (if any) is untouched.
     */
    default void publish(Path target, byte[] content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (StorageFile f = open(tmp, OpenMode.CREATE)) {
            f.truncate(0);
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                var seg = arena.allocate(Math.max(1, content.length));
                java.lang.foreign.MemorySegment.copy(content, 0, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, 0,
                        content.length);
                f.write(0, seg.asSlice(0, content.length));
            }
            f.sync();
        } catch (IOException | RuntimeException e) {
            try {
                delete(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        rename(tmp, target);
        syncDirectory(target.getParent());
    }

    /** Reads a whole (small) file. */
    default byte[] readAll(Path path) throws IOException {
        try (StorageFile f = open(path, OpenMode.READ)) {
            long size = f.size();
            if (size > Integer.MAX_VALUE - 16) {
                throw new IOException(path + " is too large to read at once (" + size + " bytes)");
            }
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                var seg = arena.allocate(Math.max(1, size));
                f.read(0, seg.asSlice(0, size));
                return seg.asSlice(0, size).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            }
        }
    }
}
