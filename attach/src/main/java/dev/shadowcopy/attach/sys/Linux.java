package dev.shadowcopy.attach.sys;

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
 * The system calls the attach path needs and the JDK does not offer: {@code /dev/fuse} I/O, mount(2),
 * Unix sockets that pass descriptors (SCM_RIGHTS) and tell who is on the other end (SO_PEERCRED), setsid.
 * Bound through the foreign-function API; every binding captures {@code errno}.
 *
 * <p>Constants are the x86_64/aarch64 Linux values, named as in the kernel headers. Callers are platform
 * threads: a native call that blocks (a read of {@code /dev/fuse}) pins a virtual thread's carrier.
 */
public final class Linux {
    // open(2)
    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_EXCL = 0200;
    public static final int O_CLOEXEC = 02000000;

    // mount(2) / umount2(2)
    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;
    public static final long MS_NOEXEC = 8;
    public static final int MNT_DETACH = 2;

    // sockets
    public static final int AF_UNIX = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_SEQPACKET = 5;
    public static final int SOCK_CLOEXEC = 02000000;
    public static final int SOL_SOCKET = 1;
    public static final int SCM_RIGHTS = 1;
    public static final int SO_PEERCRED = 17;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;

    // errno
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int EBUSY = 16;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EROFS = 30;
    public static final int EPERM = 1;
    public static final int EFBIG = 27;
    public static final int EPROTO = 71;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;
    public static final int ECONNABORTED = 103;
    public static final int ECONNREFUSED = 111;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> ERRNO_SEGMENT =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    private static final MethodHandle OPEN = bind("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), 2);
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle READ = bind("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
    private static final MethodHandle WRITE = bind("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
    private static final MethodHandle DUP = bind("dup", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle FCNTL = bind("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), 2);
    private static final MethodHandle MOUNT = bind("mount",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), -1);
    private static final MethodHandle UMOUNT2 = bind("umount2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle SOCKET = bind("socket",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle BIND = bind("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle LISTEN = bind("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle ACCEPT4 = bind("accept4",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle CONNECT = bind("connect",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle SENDMSG = bind("sendmsg",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle RECVMSG = bind("recvmsg",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle GETSOCKOPT = bind("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), -1);
    private static final MethodHandle SHUTDOWN = bind("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle SETSID = bind("setsid", FunctionDescriptor.of(JAVA_INT), -1);
    private static final MethodHandle GETEUID = bind("geteuid", FunctionDescriptor.of(JAVA_INT), -1);
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LINKER.defaultLookup().find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private Linux() {}

    private static MethodHandle bind(String name, FunctionDescriptor fd, int firstVariadic) {
        var symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        return firstVariadic >= 0
                ? LINKER.downcallHandle(symbol, fd, Linker.Option.firstVariadicArg(firstVariadic), capture)
                : LINKER.downcallHandle(symbol, fd, capture);
    }

    /** errno of the last failed call made through this class on the current thread. */
    public static int errno() {
        return (int) ERRNO.get(ERRNO_SEGMENT.get(), 0L);
    }

    public static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) STRERROR.invokeExact(errno);
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    /** An exception naming the failed call, its subject and the kernel's reason, from the current errno. */
    public static LinuxException fail(String call, String subject) {
        return new LinuxException(call, subject, errno());
    }

    public static int open(String path, int flags) {
        try (Arena a = Arena.ofConfined()) {
            return (int) OPEN.invokeExact(ERRNO_SEGMENT.get(), a.allocateFrom(path), flags, 0);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int close(int fd) {
        try {
            return (int) CLOSE.invokeExact(ERRNO_SEGMENT.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long read(int fd, MemorySegment buf, long count) {
        try {
            return (long) READ.invokeExact(ERRNO_SEGMENT.get(), fd, buf, count);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long write(int fd, MemorySegment buf, long count) {
        try {
            return (long) WRITE.invokeExact(ERRNO_SEGMENT.get(), fd, buf, count);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int dup(int fd) {
        try {
            return (int) DUP.invokeExact(ERRNO_SEGMENT.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** F_DUPFD_CLOEXEC: a copy of {@code fd} at the lowest free number ≥ {@code min}, close-on-exec. */
    public static int dupCloexec(int fd, int min) {
        try {
            return (int) FCNTL.invokeExact(ERRNO_SEGMENT.get(), fd, 1030, min);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Sets or clears FD_CLOEXEC (F_SETFD). */
    public static int setCloexec(int fd, boolean on) {
        try {
            return (int) FCNTL.invokeExact(ERRNO_SEGMENT.get(), fd, 2, on ? 1 : 0);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int mount(String source, String target, String type, long flags, String data) {
        try (Arena a = Arena.ofConfined()) {
            return (int) MOUNT.invokeExact(ERRNO_SEGMENT.get(), a.allocateFrom(source), a.allocateFrom(target),
                    a.allocateFrom(type), flags, a.allocateFrom(data));
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int umount2(String target, int flags) {
        try (Arena a = Arena.ofConfined()) {
            return (int) UMOUNT2.invokeExact(ERRNO_SEGMENT.get(), a.allocateFrom(target), flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int socket(int domain, int type, int protocol) {
        try {
            return (int) SOCKET.invokeExact(ERRNO_SEGMENT.get(), domain, type, protocol);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int bind(int fd, MemorySegment addr, int len) {
        try {
            return (int) BIND.invokeExact(ERRNO_SEGMENT.get(), fd, addr, len);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int listen(int fd, int backlog) {
        try {
            return (int) LISTEN.invokeExact(ERRNO_SEGMENT.get(), fd, backlog);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int accept4(int fd, int flags) {
        try {
            return (int) ACCEPT4.invokeExact(ERRNO_SEGMENT.get(), fd, MemorySegment.NULL, MemorySegment.NULL, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int connect(int fd, MemorySegment addr, int len) {
        try {
            return (int) CONNECT.invokeExact(ERRNO_SEGMENT.get(), fd, addr, len);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long sendmsg(int fd, MemorySegment msg, int flags) {
        try {
            return (long) SENDMSG.invokeExact(ERRNO_SEGMENT.get(), fd, msg, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long recvmsg(int fd, MemorySegment msg, int flags) {
        try {
            return (long) RECVMSG.invokeExact(ERRNO_SEGMENT.get(), fd, msg, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int getsockopt(int fd, int level, int name, MemorySegment value, MemorySegment len) {
        try {
            return (int) GETSOCKOPT.invokeExact(ERRNO_SEGMENT.get(), fd, level, name, value, len);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int shutdown(int fd, int how) {
        try {
            return (int) SHUTDOWN.invokeExact(ERRNO_SEGMENT.get(), fd, how);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** setsid(2): a new session and process group, so signals to the caller's group do not reach us. */
    public static int setsid() {
        try {
            return (int) SETSID.invokeExact(ERRNO_SEGMENT.get());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int geteuid() {
        try {
            return (int) GETEUID.invokeExact(ERRNO_SEGMENT.get());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
