package dev.shadowcopy.platform;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A {@link StorageFile} on a real file descriptor: pread/pwrite/fdatasync/fallocate/lseek through
 * {@link Libc}. Works on regular files and block devices alike.
 *
 * <p>Closing while other threads still do I/O is the caller's bug; the descriptor is closed once.
 */
public final class NativeFile implements StorageFile {
    private static final int ZERO_CHUNK = 1 << 20;
    private static final MemorySegment ZEROS = Arena.global().allocate(ZERO_CHUNK, 4096);

    private final Path path;
    private final int fd;
    private final boolean blockDevice;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** A second descriptor opened with O_DIRECT on first use by {@link #readUncached}; -2 once it cannot be had. */
    private volatile int directFd = -1;

    private NativeFile(Path path, int fd, boolean blockDevice) {
        this.path = path;
        this.fd = fd;
        this.blockDevice = blockDevice;
    }

    public static NativeFile open(Path path, OpenMode mode) throws IOException {
        int flags = Libc.O_CLOEXEC | switch (mode) {
            case READ -> Libc.O_RDONLY;
            case READ_WRITE -> Libc.O_RDWR;
            case CREATE -> Libc.O_RDWR | Libc.O_CREAT;
            case CREATE_NEW -> Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL;
        };
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = Libc.open(arena.allocateFrom(path.toString()), flags, 0600);
        }
        if (fd < 0) {
            int errno = Libc.errno();
            if (errno == 2) {
                throw new NoSuchFileException(path.toString());
            }
            if (errno == 17) { // EEXIST of CREATE_NEW, as Storage promises (and java.nio does)
                throw new FileAlreadyExistsException(path.toString());
            }
            throw NativeIOException.of("open", path.toString(), errno);
        }
        boolean block = !Files.isRegularFile(path) && isBlockDevice(path);
        return new NativeFile(path, fd, block);
    }

    /** Opens a directory read-only, for {@link #syncDirectory}. */
    private static int openDirectory(Path dir) throws IOException {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = Libc.open(arena.allocateFrom(dir.toString()), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        }
        if (fd < 0) {
            throw NativeIOException.of("open", dir.toString(), Libc.errno());
        }
        return fd;
    }

    /** fsync of a directory: makes creations, renames and deletions of its entries durable. */
    public static void syncDirectory(Path dir) throws IOException {
        int fd = openDirectory(dir);
        try {
            if (Libc.fsync(fd) != 0) {
                throw NativeIOException.of("fsync", dir.toString(), Libc.errno());
            }
        } finally {
            Libc.close(fd);
        }
    }

    /**
     * syncfs(2) of the file system holding {@code path}: every file written and every name created or renamed
     * on it is durable on return. One call instead of an fsync per file when many small files were written
     * (what Proxmox Backup Server's "filesystem" sync level does); it also flushes other writers' data on
     * that file system, so use it where that cost is acceptable.
     */
    public static void syncFileSystem(Path path) throws IOException {
        int fd = openDirectory(path);
        try {
            if (Libc.syncfs(fd) != 0) {
                throw NativeIOException.of("syncfs", path.toString(), Libc.errno());
            }
        } finally {
            Libc.close(fd);
        }
    }

    private static boolean isBlockDevice(Path path) {
        try {
            Object mode = Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            // S_IFMT = 0170000, S_IFBLK = 0060000; follow a symlink once by resolving the real path.
            int m = (Integer) mode;
            if ((m & 0170000) == 0120000) {
                return isBlockDevice(path.toRealPath());
            }
            return (m & 0170000) == 0060000;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    @Override
    public String name() {
        return path.toString();
    }

    public Path path() {
        return path;
    }

    @Override
    public boolean isBlockDevice() {
        return blockDevice;
    }

    @Override
    public long size() throws IOException {
        if (blockDevice) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
                if (Libc.ioctl(fd, Libc.BLKGETSIZE64, out) != 0) {
                    throw NativeIOException.of("ioctl(BLKGETSIZE64)", name(), Libc.errno());
                }
                return out.get(ValueLayout.JAVA_LONG, 0);
            }
        }
        long end = Libc.lseek(fd, 0, Libc.SEEK_END);
        if (end < 0) {
            throw NativeIOException.of("lseek", name(), Libc.errno());
        }
        return end;
    }

    /** Refuses I/O after close: the descriptor number may already belong to another file. */
    private void checkOpen() throws IOException {
        if (closed.get()) {
            throw new java.nio.channels.ClosedChannelException();
        }
    }

    @Override
    public void read(long position, MemorySegment dst) throws IOException {
        checkOpen();
        long done = 0;
        long length = dst.byteSize();
        while (done < length) {
            long n = Libc.pread(fd, dst.asSlice(done), length - done, position + done);
            if (n > 0) {
                done += n;
            } else if (n == 0) {
                // End of a regular file: a sparse tail reads as zeros.
                dst.asSlice(done).fill((byte) 0);
                return;
            } else {
                int errno = Libc.errno();
                if (errno != Libc.EINTR && errno != Libc.EAGAIN) {
                    throw NativeIOException.of("pread at offset " + (position + done), name(), errno);
                }
            }
        }
    }

    /**
     * A direct pread through a descriptor of its own (O_DIRECT is a property of the open file, and the engine's own
     * descriptor must stay buffered). Only whole 4 KiB blocks at aligned addresses go direct; anything else, a file
     * system that refuses O_DIRECT (EINVAL at open), a short read at the end of the file or an error, takes the
     * buffered path, which reports errors as {@link #read} does.
     */
    @Override
    public void readUncached(long position, MemorySegment dst) throws IOException {
        checkOpen();
        long length = dst.byteSize();
        if (blockDevice || length == 0 || ((position | length | dst.address()) & (DIRECT_ALIGN - 1)) != 0
                || !dst.isNative()) {
            read(position, dst);
            return;
        }
        int d = directDescriptor();
        long done = 0;
        while (d >= 0 && done < length) {
            long n = Libc.pread(d, dst.asSlice(done), length - done, position + done);
            if (n > 0 && (n & (DIRECT_ALIGN - 1)) == 0) {
                done += n;
            } else if (n < 0 && Libc.errno() == Libc.EINTR) {
                continue;
            } else {
                break; // end of file, a partial block, or an error: the rest the buffered way
            }
        }
        if (done < length) {
            read(position + done, dst.asSlice(done));
        }
    }

    private static final int DIRECT_ALIGN = 4096;

    private int directDescriptor() throws IOException {
        int d = directFd; // once set, only close() changes it: no lock on the backup's read path
        return d != -1 ? d : openDirect();
    }

    private synchronized int openDirect() throws IOException {
        if (directFd == -1) {
            checkOpen();
            try (Arena arena = Arena.ofConfined()) {
                // through our own descriptor, not the path: the same file even if the path was renamed or replaced
                int fd = Libc.open(arena.allocateFrom("/proc/self/fd/" + this.fd), Libc.O_RDONLY | Libc.O_CLOEXEC
                        | Libc.O_DIRECT, 0);
                directFd = fd >= 0 ? fd : -2;
            }
        }
        return directFd;
    }

    @Override
    public void write(long position, MemorySegment src) throws IOException {
        checkOpen();
        long done = 0;
        long length = src.byteSize();
        while (done < length) {
            long n = Libc.pwrite(fd, src.asSlice(done), length - done, position + done);
            if (n > 0) {
                done += n;
            } else if (n < 0) {
                int errno = Libc.errno();
                if (errno != Libc.EINTR && errno != Libc.EAGAIN) {
                    throw NativeIOException.of("pwrite at offset " + (position + done), name(), errno);
                }
            } else {
                throw new IOException("pwrite at offset " + (position + done) + " on " + name() + " wrote nothing");
            }
        }
    }

    @Override
    public void sync() throws IOException {
        checkOpen();
        while (Libc.fdatasync(fd) != 0) {
            int errno = Libc.errno();
            if (errno != Libc.EINTR) {
                throw NativeIOException.of("fdatasync", name(), errno);
            }
        }
    }

    @Override
    public void startWriteback() throws IOException {
        checkOpen();
        if (Libc.syncFileRange(fd, 0, 0, Libc.SYNC_FILE_RANGE_WRITE) != 0) {
            int errno = Libc.errno();
            if (errno != Libc.EINVAL && errno != Libc.EOPNOTSUPP) {
                throw NativeIOException.of("sync_file_range", name(), errno);
            }
        }
    }

    private static volatile boolean noCachestat;
    private static final long PAGE = 4096;

    @Override
    public long dirtyBytes() {
        if (noCachestat || closed.get()) {
            return -1;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment range = a.allocate(16, 8); // off 0, len 0: to the end of the file
            MemorySegment out = a.allocate(40, 8);
            if (Libc.cachestat(fd, range, out) != 0) {
                if (Libc.errno() == Libc.ENOSYS) {
                    noCachestat = true;
                }
                return -1;
            }
            long dirty = out.get(ValueLayout.JAVA_LONG, 8);
            long writeback = out.get(ValueLayout.JAVA_LONG, 16);
            return (dirty + writeback) * PAGE;
        }
    }

    /** fsync: also makes the inode (size, times) durable. */
    public void syncAll() throws IOException {
        while (Libc.fsync(fd) != 0) {
            int errno = Libc.errno();
            if (errno != Libc.EINTR) {
                throw NativeIOException.of("fsync", name(), errno);
            }
        }
    }

    @Override
    public void punchHole(long position, long length) throws IOException {
        if (length == 0) {
            return;
        }
        if (Libc.fallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, position, length) == 0) {
            return;
        }
        int errno = Libc.errno();
        if (errno == Libc.EOPNOTSUPP || errno == Libc.EINVAL || errno == Libc.ENOTTY) {
            writeZeros(position, length); // the file system or device cannot deallocate: zeros are equivalent
            return;
        }
        throw NativeIOException.of("fallocate(PUNCH_HOLE) at offset " + position, name(), errno);
    }

    @Override
    public void allocate(long position, long length) throws IOException {
        checkOpen();
        if (length == 0 || blockDevice) {
            return;
        }
        if (Libc.fallocate(fd, 0, position, length) == 0) {
            return;
        }
        int errno = Libc.errno();
        if (errno == Libc.EOPNOTSUPP || errno == Libc.EINVAL) {
            return; // the file system cannot reserve: writes will allocate as they go
        }
        throw NativeIOException.of("fallocate at offset " + position, name(), errno);
    }

    @Override
    public void zeroRange(long position, long length) throws IOException {
        if (length == 0) {
            return;
        }
        int mode = blockDevice ? Libc.FALLOC_FL_ZERO_RANGE | Libc.FALLOC_FL_KEEP_SIZE : Libc.FALLOC_FL_ZERO_RANGE;
        if (Libc.fallocate(fd, mode, position, length) == 0) {
            return;
        }
        int errno = Libc.errno();
        if (errno == Libc.EOPNOTSUPP || errno == Libc.EINVAL || errno == Libc.ENOTTY) {
            writeZeros(position, length);
            return;
        }
        throw NativeIOException.of("fallocate(ZERO_RANGE) at offset " + position, name(), errno);
    }

    private void writeZeros(long position, long length) throws IOException {
        long done = 0;
        while (done < length) {
            long n = Math.min(ZERO_CHUNK, length - done);
            write(position + done, ZEROS.asSlice(0, n));
            done += n;
        }
    }

    @Override
    public long nextData(long position) throws IOException {
        long r = Libc.lseek(fd, position, Libc.SEEK_DATA);
        if (r >= 0) {
            return r;
        }
        int errno = Libc.errno();
        if (errno == Libc.ENXIO) {
            return -1; // only a hole (or nothing) from here to the end
        }
        if (errno == Libc.EINVAL || errno == Libc.EOPNOTSUPP) {
            return position; // no hole information: everything is data
        }
        throw NativeIOException.of("lseek(SEEK_DATA) at offset " + position, name(), errno);
    }

    @Override
    public long nextHole(long position) throws IOException {
        long r = Libc.lseek(fd, position, Libc.SEEK_HOLE);
        if (r >= 0) {
            return r;
        }
        int errno = Libc.errno();
        if (errno == Libc.ENXIO || errno == Libc.EINVAL || errno == Libc.EOPNOTSUPP) {
            return size();
        }
        throw NativeIOException.of("lseek(SEEK_HOLE) at offset " + position, name(), errno);
    }

    @Override
    public void truncate(long size) throws IOException {
        if (Libc.ftruncate(fd, size) != 0) {
            throw NativeIOException.of("ftruncate to " + size, name(), Libc.errno());
        }
    }

    /**
     * FICLONE: makes this (regular) file share all extents of {@code source} (XFS with reflink, btrfs).
     */
    public void cloneFrom(NativeFile source) throws IOException {
        if (Libc.ioctl(fd, Libc.FICLONE, source.fd) != 0) {
            int errno = Libc.errno();
            String call = "ioctl(FICLONE from " + source.name() + ")";
            if (errno == Libc.EOPNOTSUPP || errno == Libc.EXDEV || errno == Libc.EINVAL || errno == Libc.ENOTTY) {
                throw new CloneUnsupportedException(call, name(), errno);
            }
            throw NativeIOException.of(call, name(), errno);
        }
    }

    /** FIFREEZE on the file system whose mount point (directory) this descriptor refers to. */
    public static void freezeFileSystem(Path mountPoint) throws IOException {
        int fd = openDirectory(mountPoint);
        try {
            if (Libc.ioctl(fd, Libc.FIFREEZE, 0) != 0) {
                throw NativeIOException.of("ioctl(FIFREEZE)", mountPoint.toString(), Libc.errno());
            }
        } finally {
            Libc.close(fd);
        }
    }

    /** FITHAW on the file system mounted at {@code mountPoint}. */
    public static void thawFileSystem(Path mountPoint) throws IOException {
        int fd = openDirectory(mountPoint);
        try {
            if (Libc.ioctl(fd, Libc.FITHAW, 0) != 0) {
                throw NativeIOException.of("ioctl(FITHAW)", mountPoint.toString(), Libc.errno());
            }
        } finally {
            Libc.close(fd);
        }
    }

    @Override
    public void close() throws IOException {
        if (closed.compareAndSet(false, true)) {
            synchronized (this) {
                if (directFd >= 0) {
                    Libc.close(directFd); // read-only: nothing to lose
                    directFd = -2;
                }
            }
            if (Libc.close(fd) != 0) {
                throw NativeIOException.of("close", name(), Libc.errno());
            }
        }
    }
}
