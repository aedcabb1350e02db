package dev.shadowcopy.platform;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The few Linux system calls the JDK does not offer, bound through the foreign-function API.
 *
 * <p>Every binding captures {@code errno} into a per-thread segment so that failures can be reported
 * with the kernel's reason (and so that ENOSPC can be told apart from other errors). Constants are the
 * x86_64/aarch64 Linux values, named as in the kernel headers.
 *
 * <p>Thread-safety: all methods are safe to call from any thread; the errno segment is thread-local.
 * Callers are expected to be platform threads: a native call pins a virtual thread's carrier.
 */
final class Libc {
    // open(2) flags
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CREAT = 0100;
    static final int O_EXCL = 0200;
    static final int O_DIRECTORY = 0200000;
    static final int O_DIRECT = 040000;
    static final int O_CLOEXEC = 02000000;

    // lseek(2) whence
    static final int SEEK_END = 2;
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;

    // fallocate(2) modes
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;

    // sync_file_range(2) flags
    static final int SYNC_FILE_RANGE_WRITE = 2;

    // ioctl(2) requests
    static final long BLKGETSIZE64 = 0x80081272L;
    static final long BLKDISCARD = 0x1277L;
    static final long BLKZEROOUT = 0x127fL;
    static final long FIFREEZE = 0xC0045877L;
    static final long FITHAW = 0xC0045878L;
    static final long FICLONE = 0x40049409L;

    // errno values
    static final int EINTR = 4;
    static final int ENXIO = 6;
    static final int EAGAIN = 11;
    static final int EXDEV = 18;
    static final int EINVAL = 22;
    static final int ENOTTY = 25;
    static final int ENOSPC = 28;
    static final int EOPNOTSUPP = 95;
    static final int EDQUOT = 122;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> ERRNO_SEGMENT =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    private static final MethodHandle OPEN = bind("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), true);
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    private static final MethodHandle PREAD = bind("pread",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), false);
    private static final MethodHandle PWRITE = bind("pwrite",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), false);
    private static final MethodHandle FDATASYNC = bind("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    private static final MethodHandle FSYNC = bind("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    private static final MethodHandle SYNCFS = bind("syncfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    private static final MethodHandle FALLOCATE = bind("fallocate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), false);
    private static final MethodHandle FTRUNCATE = bind("ftruncate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG), false);
    private static final MethodHandle LSEEK = bind("lseek",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT), false);
    private static final MethodHandle IOCTL_PTR = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), true);
    private static final MethodHandle IOCTL_INT = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT), true);
    private static final MethodHandle SYNC_FILE_RANGE = bind("sync_file_range",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT), false);
    private static final MethodHandle STRERROR = bind0("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    /** syscall(2) with the arguments of cachestat(2): number, fd, range, result, flags. */
    private static final MethodHandle SYSCALL_CACHESTAT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT),
            Linker.Option.firstVariadicArg(1), Linker.Option.captureCallState("errno"));
    /** cachestat(2) (Linux 6.5+): the same number on x86_64 and aarch64. */
    static final long SYS_CACHESTAT = 451;
    static final int ENOSYS = 38;

    private Libc() {}

    private static MethodHandle bind(String name, FunctionDescriptor fd, boolean variadicAfterSecond) {
        var symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        return variadicAfterSecond
                ? LINKER.downcallHandle(symbol, fd, Linker.Option.firstVariadicArg(2), capture)
                : LINKER.downcallHandle(symbol, fd, capture);
    }

    private static MethodHandle bind0(String name, FunctionDescriptor fd) {
        var symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        return LINKER.downcallHandle(symbol, fd);
    }

    /** errno of the last failed call made through this class on the current thread. */
    static int errno() {
        return (int) ERRNO.get(ERRNO_SEGMENT.get(), 0L);
    }

    static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) STRERROR.invokeExact(errno);
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    static int open(MemorySegment path, int flags, int mode) {
        try {
            return (int) OPEN.invokeExact(ERRNO_SEGMENT.get(), path, flags, mode);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int close(int fd) {
        try {
            return (int) CLOSE.invokeExact(ERRNO_SEGMENT.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long pread(int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) PREAD.invokeExact(ERRNO_SEGMENT.get(), fd, buf, count, offset);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long pwrite(int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) PWRITE.invokeExact(ERRNO_SEGMENT.get(), fd, buf, count, offset);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int fdatasync(int fd) {
        try {
            return (int) FDATASYNC.invokeExact(ERRNO_SEGMENT.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int fsync(int fd) {
        try {
            return (int) FSYNC.invokeExact(ERRNO_SEGMENT.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int syncfs(int fd) {
        try {
            return (int) SYNCFS.invokeExact(ERRNO_SEGMENT.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int fallocate(int fd, int mode, long offset, long length) {
        try {
            return (int) FALLOCATE.invokeExact(ERRNO_SEGMENT.get(), fd, mode, offset, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int syncFileRange(int fd, long offset, long length, int flags) {
        try {
            return (int) SYNC_FILE_RANGE.invokeExact(ERRNO_SEGMENT.get(), fd, offset, length, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int ftruncate(int fd, long length) {
        try {
            return (int) FTRUNCATE.invokeExact(ERRNO_SEGMENT.get(), fd, length);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long lseek(int fd, long offset, int whence) {
        try {
            return (long) LSEEK.invokeExact(ERRNO_SEGMENT.get(), fd, offset, whence);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int ioctl(int fd, long request, MemorySegment arg) {
        try {
            return (int) IOCTL_PTR.invokeExact(ERRNO_SEGMENT.get(), fd, request, arg);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * cachestat(2) over the whole file: fills {@code out} (5 × u64: cached, dirty, writeback, evicted,
     * recently evicted pages).
     */
    static long cachestat(int fd, MemorySegment range, MemorySegment out) {
        try {
            return (long) SYSCALL_CACHESTAT.invokeExact(ERRNO_SEGMENT.get(), SYS_CACHESTAT, fd, range, out, 0);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int ioctl(int fd, long request, int arg) {
        try {
            return (int) IOCTL_INT.invokeExact(ERRNO_SEGMENT.get(), fd, request, arg);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
