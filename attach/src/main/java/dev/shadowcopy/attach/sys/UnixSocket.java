package dev.shadowcopy.attach.sys;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Unix-domain socket on a raw descriptor, for what the JDK's channels cannot do: pass descriptors
 * (SCM_RIGHTS) and keep message boundaries (SOCK_SEQPACKET). Used between the service and its descriptor
 * holder, and to hand descriptors to systemd's store.
 *
 * <p>Layouts (x86_64/aarch64 LP64): {@code sockaddr_un} = u16 family + 108-byte path; {@code msghdr} = name
 * ptr @0, namelen u32 @8, iov ptr @16, iovlen @24, control ptr @32, controllen @40, flags i32 @48 (56 bytes);
 * {@code iovec} = base @0, len @8; {@code cmsghdr} = len u64 @0, level i32 @8, type i32 @12, data @16,
 * each control message padded to 8 bytes. Thread-safety: one sender and one receiver at a time.
 */
public final class UnixSocket implements AutoCloseable {
    /** Most descriptors one message carries (the kernel's SCM_MAX_FD is 253). */
    public static final int MAX_FDS = 64;
    private static final int SUN_PATH = 108;

    private final int fd;
    private final String name;
    private final AtomicBoolean closed = new AtomicBoolean();

    private UnixSocket(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /** A message received: its bytes and the descriptors that came with it (owned by the caller). */
    public record Message(byte[] data, int[] fds) {
        public String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    /** Who is on the other end (SO_PEERCRED, as of connect). */
    public record Peer(int pid, int uid, int gid) {}

    public int fd() {
        return fd;
    }

    /** A listening SOCK_SEQPACKET socket on {@code path} (which must not exist), mode set by the caller's umask. */
    public static UnixSocket listen(Path path, int backlog) throws IOException {
        int s = Linux.socket(Linux.AF_UNIX, Linux.SOCK_SEQPACKET | Linux.SOCK_CLOEXEC, 0);
        if (s < 0) {
            throw Linux.fail("socket", path.toString());
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment addr = address(a, path.toString());
            if (Linux.bind(s, addr, (int) addr.byteSize()) != 0) {
                throw Linux.fail("bind", path.toString());
            }
            if (Linux.listen(s, backlog) != 0) {
                throw Linux.fail("listen", path.toString());
            }
        } catch (IOException e) {
            Linux.close(s);
            throw e;
        }
        return new UnixSocket(s, path.toString());
    }

    /** Connects a SOCK_SEQPACKET socket to {@code path}. */
    public static UnixSocket connect(Path path) throws IOException {
        int s = Linux.socket(Linux.AF_UNIX, Linux.SOCK_SEQPACKET | Linux.SOCK_CLOEXEC, 0);
        if (s < 0) {
            throw Linux.fail("socket", path.toString());
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment addr = address(a, path.toString());
            if (Linux.connect(s, addr, (int) addr.byteSize()) != 0) {
                throw Linux.fail("connect", path.toString());
            }
        } catch (IOException e) {
            Linux.close(s);
            throw e;
        }
        return new UnixSocket(s, path.toString());
    }

    /** Accepts one connection (blocks). */
    public UnixSocket accept() throws IOException {
        while (true) {
            int c = Linux.accept4(fd, Linux.SOCK_CLOEXEC);
            if (c >= 0) {
                return new UnixSocket(c, name);
            }
            if (Linux.errno() != Linux.EINTR) {
                throw Linux.fail("accept", name);
            }
        }
    }

    public Peer peer() throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cred = a.allocate(12, 4);
            MemorySegment len = a.allocate(ValueLayout.JAVA_INT);
            len.set(ValueLayout.JAVA_INT, 0, 12);
            if (Linux.getsockopt(fd, Linux.SOL_SOCKET, Linux.SO_PEERCRED, cred, len) != 0) {
                throw Linux.fail("getsockopt(SO_PEERCRED)", name);
            }
            return new Peer(cred.get(ValueLayout.JAVA_INT, 0), cred.get(ValueLayout.JAVA_INT, 4),
                    cred.get(ValueLayout.JAVA_INT, 8));
        }
    }

    /** Sends one message with the given descriptors (none: an empty array). */
    public void send(String text, int... fds) throws IOException {
        send(fd, null, text.getBytes(StandardCharsets.UTF_8), fds, name);
    }

    /**
     * Sends one datagram to {@code socketPath} ({@code @name} for the abstract namespace), with descriptors:
     * how {@code sd_notify} talks to systemd.
     */
    public static void sendDatagram(String socketPath, String text, int... fds) throws IOException {
        int s = Linux.socket(Linux.AF_UNIX, Linux.SOCK_DGRAM | Linux.SOCK_CLOEXEC, 0);
        if (s < 0) {
            throw Linux.fail("socket", socketPath);
        }
        try {
            send(s, socketPath, text.getBytes(StandardCharsets.UTF_8), fds, socketPath);
        } finally {
            Linux.close(s);
        }
    }

    private static void send(int fd, String to, byte[] data, int[] fds, String name) throws IOException {
        if (fds.length > MAX_FDS) {
            throw new IllegalArgumentException("at most " + MAX_FDS + " descriptors per message (got " + fds.length + ")");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment msg = a.allocate(56, 8);
            MemorySegment payload = a.allocate(Math.max(1, data.length));
            MemorySegment.copy(data, 0, payload, ValueLayout.JAVA_BYTE, 0, data.length);
            MemorySegment iov = a.allocate(16, 8);
            iov.set(ValueLayout.ADDRESS, 0, payload);
            iov.set(ValueLayout.JAVA_LONG, 8, data.length);
            if (to != null) {
                MemorySegment addr = address(a, to);
                msg.set(ValueLayout.ADDRESS, 0, addr);
                msg.set(ValueLayout.JAVA_INT, 8, (int) addr.byteSize());
            }
            msg.set(ValueLayout.ADDRESS, 16, iov);
            msg.set(ValueLayout.JAVA_LONG, 24, 1);
            if (fds.length > 0) {
                long space = align8(16 + 4L * fds.length);
                MemorySegment control = a.allocate(space, 8);
                control.set(ValueLayout.JAVA_LONG, 0, 16 + 4L * fds.length);
                control.set(ValueLayout.JAVA_INT, 8, Linux.SOL_SOCKET);
                control.set(ValueLayout.JAVA_INT, 12, Linux.SCM_RIGHTS);
                for (int i = 0; i < fds.length; i++) {
                    control.set(ValueLayout.JAVA_INT, 16 + 4L * i, fds[i]);
                }
                msg.set(ValueLayout.ADDRESS, 32, control);
                msg.set(ValueLayout.JAVA_LONG, 40, space);
            }
            while (true) {
                long n = Linux.sendmsg(fd, msg, Linux.MSG_NOSIGNAL);
                if (n >= 0) {
                    if (n != data.length) {
                        throw new IOException("sendmsg on " + name + " sent " + n + " of " + data.length + " bytes");
                    }
                    return;
                }
                if (Linux.errno() != Linux.EINTR) {
                    throw Linux.fail("sendmsg", name);
                }
            }
        }
    }

    /**
     * Receives one message of at most {@code maxBytes} (longer ones are an error). Returns null at end of
     * stream (the peer closed). Descriptors arrive close-on-exec and belong to the caller.
     */
    public Message receive(int maxBytes) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment msg = a.allocate(56, 8);
            MemorySegment payload = a.allocate(maxBytes);
            MemorySegment iov = a.allocate(16, 8);
            iov.set(ValueLayout.ADDRESS, 0, payload);
            iov.set(ValueLayout.JAVA_LONG, 8, maxBytes);
            long space = align8(16 + 4L * MAX_FDS);
            MemorySegment control = a.allocate(space, 8);
            msg.set(ValueLayout.ADDRESS, 16, iov);
            msg.set(ValueLayout.JAVA_LONG, 24, 1);
            msg.set(ValueLayout.ADDRESS, 32, control);
            msg.set(ValueLayout.JAVA_LONG, 40, space);
            long n;
            while (true) {
                n = Linux.recvmsg(fd, msg, Linux.MSG_CMSG_CLOEXEC);
                if (n >= 0) {
                    break;
                }
                if (Linux.errno() != Linux.EINTR) {
                    throw Linux.fail("recvmsg", name);
                }
            }
            int[] fds = descriptors(control, msg.get(ValueLayout.JAVA_LONG, 40));
            int flags = msg.get(ValueLayout.JAVA_INT, 48);
            if ((flags & 0x20 /* MSG_TRUNC */) != 0 || (flags & 0x08 /* MSG_CTRUNC */) != 0) {
                for (int f : fds) {
                    Linux.close(f);
                }
                throw new IOException("a message on " + name + " was larger than " + maxBytes
                        + " bytes or carried more than " + MAX_FDS + " descriptors (expected: smaller)");
            }
            if (n == 0 && fds.length == 0) {
                return null;
            }
            byte[] data = payload.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
            return new Message(data, fds);
        }
    }

    private static int[] descriptors(MemorySegment control, long length) {
        List<Integer> out = new ArrayList<>();
        long off = 0;
        while (off + 16 <= length) {
            long len = control.get(ValueLayout.JAVA_LONG, off);
            int level = control.get(ValueLayout.JAVA_INT, off + 8);
            int type = control.get(ValueLayout.JAVA_INT, off + 12);
            if (len < 16 || off + len > length) {
                break;
            }
            if (level == Linux.SOL_SOCKET && type == Linux.SCM_RIGHTS) {
                for (long p = off + 16; p + 4 <= off + len; p += 4) {
                    out.add(control.get(ValueLayout.JAVA_INT, p));
                }
            }
            off += align8(len);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static long align8(long n) {
        return (n + 7) & ~7L;
    }

    private static MemorySegment address(Arena a, String path) {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        boolean abstractName = p.length > 0 && p[0] == '@';
        if (p.length >= SUN_PATH) {
            throw new IllegalArgumentException("socket path too long (" + p.length + " bytes, expected < " + SUN_PATH
                    + "): " + path);
        }
        MemorySegment addr = a.allocate(2 + SUN_PATH, 2);
        addr.set(ValueLayout.JAVA_SHORT, 0, (short) Linux.AF_UNIX);
        MemorySegment.copy(p, 0, addr, ValueLayout.JAVA_BYTE, 2, p.length);
        if (abstractName) {
            addr.set(ValueLayout.JAVA_BYTE, 2, (byte) 0);
            return addr.asSlice(0, 2 + p.length);
        }
        return addr.asSlice(0, 2 + p.length + 1);
    }

    /** Half-closes both directions: a thread blocked in {@link #receive} or {@link #accept} returns. */
    public void shutdown() {
        Linux.shutdown(fd, 2);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Linux.close(fd);
        }
    }
}
