package dev.shadowcopy.image.restore;

import com.fasterxml.jackson.core.JacksonException;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.image.repository.RepositoryJson;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * The durable overlay of {@code backups serve --writable --overlay PATH}: the guest's writes to a backup point served
 * for instant recovery, kept across a kill of the server and a reboot, and continued when the same point is served
 * again with the same overlay (or migrated onto a volume, which reads it as its source).
 *
 * <p>Files, all next to each other (the user's choice of place, not the repository's):
 * <ul>
 *   <li>{@code PATH} — the overlay's data, a sparse file of the volume's size ({@link OverlayDevice});</li>
 *   <li>{@code PATH.map} — its written-block map, published by each flush after the data was synced, so a map entry
 *       never names data a crash could lose ({@link OverlayDevice#flush});</li>
 *   <li>{@code PATH.meta} — which repository (id), backup point and volume the overlay lies on, as JSON
 *       ({@link Binding}); published (temporary name, fsync, rename, directory fsync) before the overlay is made,
 *       so an overlay is never applied to another backup's data. It also carries the lock: a process using the
 *       overlay holds a POSIX record lock on it, which the kernel drops when the process dies.</li>
 * </ul>
 * A crash while the overlay was being made (meta there, map not yet) leaves nothing a flush acknowledged: it is
 * made again.
 */
public final class ServeOverlay implements AutoCloseable {
    /** {@code PATH.meta}: the format (1) and what the overlay lies on. */
    public record Binding(int format, String repository, String backup, String volume, long size, String created) {
        static final int FORMAT = 1;
    }

    /**
     * {@code PATH.serve}: which process serves the overlay now and where, so that a live restore can take its guest
     * over (stop that process, serve the same export on the same socket). Written while serving, removed at exit; a
     * hint only (the lock on {@code PATH.meta} is what excludes a second user).
     */
    public record Serving(long pid, String socket, String export) {}

    private final OverlayDevice device;
    private final Binding binding;
    private final FileChannel lockFile;
    private final FileLock lock;
    private final Path path;

    private ServeOverlay(OverlayDevice device, Binding binding, FileChannel lockFile, FileLock lock, Path path) {
        this.device = device;
        this.binding = binding;
        this.lockFile = lockFile;
        this.lock = lock;
        this.path = path;
    }

    public static Path mapOf(Path path) {
        return path.resolveSibling(path.getFileName() + ".map");
    }

    public static Path metaOf(Path path) {
        return path.resolveSibling(path.getFileName() + ".meta");
    }

    private static Path servingOf(Path path) {
        return path.resolveSibling(path.getFileName() + ".serve");
    }

    /** Says that this process serves the overlay on {@code socket} as {@code export} (see {@link Serving}). */
    public void serving(Path socket, String export) throws IOException {
        java.nio.file.Files.write(servingOf(path), RepositoryJson.MAPPER.writeValueAsBytes(new Serving(
                ProcessHandle.current().pid(), socket.toAbsolutePath().toString(), export)));
    }

    /**
     * Who serves the overlay at {@code path} now, or null when no live process says so. The file is whoever served
     * it's to write, and a live restore acts on it as root (it stops that process and serves its socket), so it is
     * believed only of a live {@code backups serve} of ours running as the file's owner: not any pid it names.
     */
    public static Serving serving(Path path) throws IOException {
        Path f = servingOf(path.toAbsolutePath());
        if (!java.nio.file.Files.exists(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        Serving s;
        try {
            s = RepositoryJson.MAPPER.readValue(java.nio.file.Files.readAllBytes(f), Serving.class);
        } catch (JacksonException e) {
            return null; // torn by a kill: nobody serves it
        }
        String owner = java.nio.file.Files.getOwner(f, java.nio.file.LinkOption.NOFOLLOW_LINKS).getName();
        return ProcessHandle.of(s.pid()).filter(ProcessHandle::isAlive).isPresent() && isServe(s.pid(), owner) ? s
                : null;
    }

    /**
     * Whether process {@code pid} is a {@code backups serve} of ours run by {@code owner}: read from /proc (its
     * directory's owner is the process's user; its cmdline, NUL-separated, whole — ProcessHandle.Info may leave the
     * arguments of a long command line out).
     */
    private static boolean isServe(long pid, String owner) {
        Path proc = Path.of("/proc", Long.toString(pid));
        try {
            java.util.List<String> args = java.util.Arrays.asList(new String(java.nio.file.Files.readAllBytes(
                    proc.resolve("cmdline")), java.nio.charset.StandardCharsets.UTF_8).split("\0"));
            return owner.equals(java.nio.file.Files.getOwner(proc).getName()) && args.contains("dev.shadowcopy.cli.Main")
                    && args.contains("backups") && args.contains("serve");
        } catch (IOException e) {
            return false; // gone meanwhile
        }
    }

    /** What the overlay at {@code path} lies on, or null when there is none. */
    public static Binding binding(Path path) throws IOException {
        Path meta = metaOf(path);
        Storage s = LocalStorage.INSTANCE;
        if (!s.exists(meta)) {
            return null;
        }
        try {
            Binding b = RepositoryJson.MAPPER.readValue(s.readAll(meta), Binding.class);
            if (b.format() != Binding.FORMAT || b.backup() == null || b.volume() == null || b.repository() == null) {
                throw new RepositoryException(RepositoryException.Code.CORRUPT, meta + " is not an overlay "
                        + "description this version reads (format " + b.format() + ")");
            }
            return b;
        } catch (JacksonException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, meta + " is damaged: "
                    + e.getOriginalMessage());
        }
    }

    /**
     * Opens the overlay at {@code path} over {@code base} (volume {@code volume} of backup {@code backup} in the
     * repository with id {@code repositoryId}), making it if there is none. Refused when the overlay lies on another
     * backup point or volume, when {@code path} exists but is no overlay of ours, and while another process uses it.
     */
    public static ServeOverlay open(Path path, BlockDevice base, String repositoryId, String backup, String volume)
            throws IOException {
        Storage s = LocalStorage.INSTANCE;
        Path abs = path.toAbsolutePath();
        Binding b = binding(abs);
        if (b == null) {
            if (s.exists(abs)) {
                throw new RepositoryException(RepositoryException.Code.INVALID, abs + " exists and is not an overlay "
                        + "(there is no " + metaOf(abs).getFileName() + "); choose a new path for --overlay");
            }
            b = new Binding(Binding.FORMAT, repositoryId, backup, volume, base.size(), Instant.now().toString());
            s.publish(metaOf(abs), RepositoryJson.MAPPER.writeValueAsBytes(b)); // durable before the overlay exists
        } else if (!b.repository().equals(repositoryId) || !b.backup().equals(backup) || !b.volume().equals(volume)) {
            throw new RepositoryException(RepositoryException.Code.INVALID, "overlay " + abs + " holds writes to volume "
                    + b.volume() + " of backup " + b.backup() + (b.repository().equals(repositoryId) ? ""
                    : " of another repository (id " + b.repository() + ")") + ", not to volume " + volume
                    + " of backup " + backup + "; serve that backup with it, or choose another --overlay");
        }
        FileChannel ch = FileChannel.open(metaOf(abs), StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            ch.close();
            throw new RepositoryException(RepositoryException.Code.LOCKED, "overlay " + abs + " is in use by another "
                    + "process (a running `backups serve`, or a migration of it); stop that first");
        }
        try {
            OverlayDevice d;
            String name = "overlay " + abs + " of " + base.name();
            if (s.exists(mapOf(abs)) && s.exists(abs)) {
                d = OverlayDevice.openDurable(base, s, abs, mapOf(abs), name);
            } else {
                s.delete(abs); // made but never published: nothing in it was acknowledged
                d = OverlayDevice.createDurable(base, s, abs, mapOf(abs), name);
            }
            return new ServeOverlay(d, b, ch, lock, abs);
        } catch (IOException | RuntimeException e) {
            lock.release();
            ch.close();
            throw e;
        }
    }

    public OverlayDevice device() {
        return device;
    }

    public Binding binding() {
        return binding;
    }

    public Path path() {
        return path;
    }

    /** Bytes the overlay holds (the guest's writes, in 4 KiB blocks). */
    public long bytes() {
        return device.overlayBytes();
    }

    /** Flushes (what was written is durable) and closes; the files stay for the next serve. */
    @Override
    public void close() throws IOException {
        try {
            device.flush();
            device.close();
            Serving s = serving(path);
            if (s != null && s.pid() == ProcessHandle.current().pid()) {
                java.nio.file.Files.deleteIfExists(servingOf(path));
            }
        } finally {
            lock.release();
            lockFile.close();
        }
    }

    /** Removes an overlay's files (it was moved into a volume, or is given up); the caller holds no lock on it. */
    public static void delete(Path path) throws IOException {
        Storage s = LocalStorage.INSTANCE;
        Path abs = path.toAbsolutePath();
        s.delete(mapOf(abs)); // first: without its map the data is nothing
        s.delete(abs);
        s.delete(metaOf(abs));
        s.delete(servingOf(abs));
    }
}
