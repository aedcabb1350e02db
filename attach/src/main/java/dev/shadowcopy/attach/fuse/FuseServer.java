package dev.shadowcopy.attach.fuse;

import static dev.shadowcopy.attach.fuse.FuseWire.put32;
import static dev.shadowcopy.attach.fuse.FuseWire.put64;
import static dev.shadowcopy.attach.fuse.FuseWire.u32;
import static dev.shadowcopy.attach.fuse.FuseWire.u64;

import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.OutOfRangeException;
import dev.shadowcopy.device.ReadOnlyException;
import dev.shadowcopy.platform.NativeIOException;
import dev.shadowcopy.platform.NoSpaceException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Serves one block device as the file {@code disk} of one FUSE connection: the loop device's requests reach
 * the engine in one step (no NBD hop, no extra process).
 *
 * <p>Design notes:
 * <ul>
 *   <li><b>Threads.</b> A fixed set of platform threads each loop read(2) → handle → write(2) on the same
 *       descriptor; the kernel hands each request to exactly one reader. Concurrency is the number of threads;
 *       nothing is queued in user space.</li>
 *   <li><b>Buffers.</b> One native buffer per thread, allocated once, big enough for the largest request
 *       (max_write + headers). Requests are read at offset {@link #IN_OFF} so that a WRITE's payload starts on
 *       a 4 KiB boundary, and READ replies are built in place so that their data does too. Nothing is
 *       allocated per request.</li>
 *   <li><b>Durability.</b> A WRITE is answered when the device has taken it (visible to later reads, not yet
 *       durable); FSYNC is answered when the device's {@link BlockDevice#flush} returns, i.e. every write
 *       answered before it is durable. The loop device turns a file system's flush/FUA into that FSYNC.</li>
 *   <li><b>Stopping without failing I/O.</b> {@link #quiesce} closes a {@link RequestGate}: requests being
 *       processed finish and are answered; a request read after that is dropped unanswered and its thread
 *       ends. The kernel keeps dropped and unread requests until a server answers them; the next run adopts
 *       the connection and sends FUSE_NOTIFY_RESEND (see {@link FuseConnection#resend}). Re-executing a
 *       request is safe: reads, writes of the same bytes to the same place, flushes and discards are
 *       idempotent, and a write that raced another to the same blocks had no defined order anyway.</li>
 *   <li><b>Errors.</b> Engine exceptions become errno values (range → EINVAL, read-only → EROFS, no space →
 *       ENOSPC, anything else → EIO); the loop device passes them to the file system as I/O errors.</li>
 * </ul>
 * Node ids are fixed (1: the directory, 2: {@code disk}) so that an adopted connection needs no state from
 * the run that mounted it.
 */
public final class FuseServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FuseServer.class.getName());
    static final long ROOT = 1;
    static final long DISK = 2;
    private static final long IN_OFF = 4096 - FuseWire.IN_HEADER - FuseWire.WRITE_IN;
    private static final long REPLY_OFF = 4096 - FuseWire.OUT_HEADER;
    private static final long VALID_SECONDS = 86_400;
    private static final int BLOCK = 4096;

    private final FuseConnection conn;
    private final BlockDevice device;
    private final boolean readOnly;
    private final String label;
    private final long time = System.currentTimeMillis() / 1000;
    private final RequestGate gate = new RequestGate();
    private final Arena arena = Arena.ofShared();
    private final List<Thread> threads = new ArrayList<>();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private volatile boolean ended;

    private FuseServer(FuseConnection conn, BlockDevice device, boolean readOnly, String label) {
        this.conn = conn;
        this.device = device;
        this.readOnly = readOnly || device.isReadOnly();
        this.label = label;
    }

    /** Starts {@code threads} readers serving {@code device} on {@code conn}. */
    public static FuseServer start(FuseConnection conn, BlockDevice device, boolean readOnly, int threads,
                                   String label) {
        FuseServer s = new FuseServer(conn, device, readOnly, label);
        long size = IN_OFF + FuseWire.IN_HEADER + FuseWire.WRITE_IN + conn.params().maxWrite() + BLOCK;
        for (int i = 0; i < threads; i++) {
            MemorySegment buf = s.arena.allocate(size, BLOCK);
            Thread t = Thread.ofPlatform().daemon().name("fuse-" + label + "-" + i).unstarted(() -> s.serve(buf));
            s.threads.add(t);
        }
        s.threads.forEach(Thread::start);
        return s;
    }

    public FuseConnection connection() {
        return conn;
    }

    public long requests() {
        return requests.get();
    }

    /** True once the kernel ended the connection (unmounted or aborted). */
    public boolean ended() {
        return ended;
    }

    private void serve(MemorySegment buf) {
        MemorySegment in = buf.asSlice(IN_OFF);
        int fd = conn.fd();
        while (true) {
            long n = Linux.read(fd, in, in.byteSize());
            if (n < 0) {
                int e = Linux.errno();
                if (e == Linux.EINTR || e == Linux.EAGAIN || e == Linux.ENOENT) {
                    continue;
                }
                if (e != Linux.ENODEV && e != Linux.ECONNABORTED) {
                    LOG.log(System.Logger.Level.ERROR, "reading /dev/fuse for {0}: {1}", label, Linux.strerror(e));
                }
                ended = true;
                return;
            }
            if (n < FuseWire.IN_HEADER) {
                LOG.log(System.Logger.Level.ERROR, "a FUSE request of {0} bytes for {1}: too short", n, label);
                continue;
            }
            if (!gate.enter()) {
                return; // stopping: left unanswered for the next run to have resent
            }
            try {
                requests.incrementAndGet();
                if (!handle(buf, in, n)) {
                    ended = true;
                    return;
                }
            } finally {
                gate.exit();
            }
        }
    }

    /** Handles one request; false when the connection is gone. */
    private boolean handle(MemorySegment buf, MemorySegment in, long n) {
        int opcode = u32(in, 4);
        long unique = u64(in, 8);
        long node = u64(in, 16);
        long a = FuseWire.IN_HEADER;
        MemorySegment out = buf.asSlice(REPLY_OFF);
        try {
            switch (opcode) {
                case FuseWire.READ -> {
                    long offset = u64(in, a + 8);
                    int size = u32(in, a + 16);
                    long len = Math.max(0, Math.min(size, device.size() - Math.min(offset, device.size())));
                    len = Math.min(len, out.byteSize() - FuseWire.OUT_HEADER);
                    if (len > 0) {
                        device.read(offset, out.asSlice(FuseWire.OUT_HEADER, len));
                    }
                    return reply(out, FuseWire.OUT_HEADER + (int) len, 0, unique);
                }
                case FuseWire.WRITE -> {
                    if (readOnly) {
                        return reply(out, FuseWire.OUT_HEADER, -Linux.EROFS, unique);
                    }
                    long offset = u64(in, a + 8);
                    int size = u32(in, a + 16);
                    if (size < 0 || a + FuseWire.WRITE_IN + size > n) {
                        return reply(out, FuseWire.OUT_HEADER, -Linux.EINVAL, unique);
                    }
                    if (offset < 0 || offset > device.size() - size) {
                        return reply(out, FuseWire.OUT_HEADER, -Linux.EFBIG, unique);
                    }
                    device.write(offset, in.asSlice(a + FuseWire.WRITE_IN, size), false);
                    put32(out, FuseWire.OUT_HEADER, size);
                    put32(out, FuseWire.OUT_HEADER + 4, 0);
                    return reply(out, FuseWire.OUT_HEADER + FuseWire.WRITE_OUT, 0, unique);
                }
                case FuseWire.FSYNC, FuseWire.FSYNCDIR -> {
                    if (!readOnly) {
                        device.flush();
                    }
                    return reply(out, FuseWire.OUT_HEADER, 0, unique);
                }
                case FuseWire.FALLOCATE -> {
                    return fallocate(in, out, unique);
                }
                case FuseWire.LOOKUP -> {
                    if (node != ROOT || !FuseWire.name(in, a, (int) (n - a)).equals(FuseMount.FILE)) {
                        return reply(out, FuseWire.OUT_HEADER, -Linux.ENOENT, unique);
                    }
                    long o = FuseWire.OUT_HEADER;
                    put64(out, o, DISK);
                    put64(out, o + 8, 1);
                    put64(out, o + 16, VALID_SECONDS);
                    put64(out, o + 24, VALID_SECONDS);
                    put32(out, o + 32, 0);
                    put32(out, o + 36, 0);
                    diskAttr(out, o + 40);
                    return reply(out, FuseWire.OUT_HEADER + FuseWire.ENTRY_OUT, 0, unique);
                }
                case FuseWire.GETATTR -> {
                    return attrReply(out, node, unique);
                }
                case FuseWire.SETATTR -> {
                    int valid = u32(in, a);
                    if ((valid & FuseWire.FATTR_SIZE) != 0 && u64(in, a + 16) != device.size()) {
                        return reply(out, FuseWire.OUT_HEADER, -Linux.EPERM, unique);
                    }
                    return attrReply(out, node, unique);
                }
                case FuseWire.OPEN, FuseWire.OPENDIR -> {
                    int flags = u32(in, a);
                    if (opcode == FuseWire.OPEN && (node != DISK || (readOnly && (flags & 3) != Linux.O_RDONLY))) {
                        return reply(out, FuseWire.OUT_HEADER, node != DISK ? -Linux.ENOENT : -Linux.EROFS, unique);
                    }
                    put64(out, FuseWire.OUT_HEADER, 0);
                    put32(out, FuseWire.OUT_HEADER + 8, opcode == FuseWire.OPEN
                            ? FuseWire.FOPEN_DIRECT_IO | FuseWire.FOPEN_PARALLEL_DIRECT_WRITES : 0);
                    put32(out, FuseWire.OUT_HEADER + 12, 0);
                    return reply(out, FuseWire.OUT_HEADER + FuseWire.OPEN_OUT, 0, unique);
                }
                case FuseWire.READDIR -> {
                    return readdir(in, out, unique);
                }
                case FuseWire.STATFS -> {
                    long o = FuseWire.OUT_HEADER;
                    out.asSlice(o, FuseWire.STATFS_OUT).fill((byte) 0);
                    put64(out, o, device.size() / BLOCK);
                    put32(out, o + 40, BLOCK);
                    put32(out, o + 44, 255);
                    put32(out, o + 48, BLOCK);
                    return reply(out, FuseWire.OUT_HEADER + FuseWire.STATFS_OUT, 0, unique);
                }
                case FuseWire.RELEASE, FuseWire.RELEASEDIR, FuseWire.FLUSH -> {
                    return reply(out, FuseWire.OUT_HEADER, 0, unique);
                }
                case FuseWire.DESTROY -> {
                    reply(out, FuseWire.OUT_HEADER, 0, unique);
                    return false;
                }
                case FuseWire.FORGET, FuseWire.BATCH_FORGET, FuseWire.INTERRUPT -> {
                    return true; // no reply: node ids are fixed; our requests are not interruptible
                }
                default -> {
                    return reply(out, FuseWire.OUT_HEADER, -Linux.ENOSYS, unique);
                }
            }
        } catch (IOException | RuntimeException e) {
            return reply(out, FuseWire.OUT_HEADER, -errno(e, opcode), unique);
        }
    }

    private boolean fallocate(MemorySegment in, MemorySegment out, long unique) throws IOException {
        long a = FuseWire.IN_HEADER;
        long offset = u64(in, a + 8);
        long length = u64(in, a + 16);
        int mode = u32(in, a + 24);
        if (readOnly) {
            return reply(out, FuseWire.OUT_HEADER, -Linux.EROFS, unique);
        }
        int kind = mode & ~FuseWire.FALLOC_FL_KEEP_SIZE;
        if ((mode & FuseWire.FALLOC_FL_KEEP_SIZE) == 0 && offset + length > device.size()) {
            return reply(out, FuseWire.OUT_HEADER, -Linux.EFBIG, unique);
        }
        long end = Math.min(device.size(), offset + length);
        if (offset >= end) {
            return reply(out, FuseWire.OUT_HEADER, 0, unique);
        }
        if (kind == FuseWire.FALLOC_FL_PUNCH_HOLE) {
            device.trim(offset, end - offset, false); // reads as zeros afterwards (BlockDevice contract)
        } else if (kind == FuseWire.FALLOC_FL_ZERO_RANGE) {
            device.writeZeroes(offset, end - offset, false, false);
        } else if (kind == 0) {
            return reply(out, FuseWire.OUT_HEADER, 0, unique); // preallocation: every block already exists
        } else {
            return reply(out, FuseWire.OUT_HEADER, -Linux.EOPNOTSUPP, unique);
        }
        return reply(out, FuseWire.OUT_HEADER, 0, unique);
    }

    private boolean readdir(MemorySegment in, MemorySegment out, long unique) {
        long a = FuseWire.IN_HEADER;
        long offset = u64(in, a + 8);
        int size = u32(in, a + 16);
        String[] names = {".", "..", FuseMount.FILE};
        long[] inos = {ROOT, ROOT, DISK};
        int[] types = {4, 4, 8};
        int used = 0;
        for (int i = (int) Math.max(0, offset); i < names.length; i++) {
            int need = FuseWire.direntSize(names[i]);
            if (used + need > size) {
                break;
            }
            used += FuseWire.dirent(out, FuseWire.OUT_HEADER + used, inos[i], i + 1, names[i], types[i]);
        }
        return reply(out, FuseWire.OUT_HEADER + used, 0, unique);
    }

    private boolean attrReply(MemorySegment out, long node, long unique) {
        long o = FuseWire.OUT_HEADER;
        put64(out, o, VALID_SECONDS);
        put32(out, o + 8, 0);
        put32(out, o + 12, 0);
        if (node == ROOT) {
            FuseWire.attr(out, o + 16, ROOT, 0, FuseWire.S_IFDIR | 0500, 2, BLOCK, time);
        } else if (node == DISK) {
            diskAttr(out, o + 16);
        } else {
            return reply(out, FuseWire.OUT_HEADER, -Linux.ENOENT, unique);
        }
        return reply(out, FuseWire.OUT_HEADER + FuseWire.ATTR_OUT, 0, unique);
    }

    private void diskAttr(MemorySegment out, long off) {
        FuseWire.attr(out, off, DISK, device.size(), FuseWire.S_IFREG | (readOnly ? 0400 : 0600), 1, BLOCK, time);
    }

    private boolean reply(MemorySegment out, int len, int negErrno, long unique) {
        FuseWire.outHeader(out, 0, len, negErrno, unique);
        long w = Linux.write(conn.fd(), out, len);
        if (w < 0) {
            int e = Linux.errno();
            if (e == Linux.ENODEV || e == Linux.ECONNABORTED) {
                return false;
            }
            if (e != Linux.ENOENT) { // ENOENT: the kernel gave up on the request (aborted); nothing to do
                LOG.log(System.Logger.Level.ERROR, "answering a FUSE request of {0}: {1}", label, Linux.strerror(e));
            }
        }
        return true;
    }

    private int errno(Exception e, int opcode) {
        int errno;
        if (e instanceof OutOfRangeException) {
            errno = Linux.EINVAL;
        } else if (e instanceof ReadOnlyException) {
            errno = Linux.EROFS;
        } else if (e instanceof NoSpaceException) {
            errno = Linux.ENOSPC;
        } else if (e instanceof NativeIOException ne && ne.errno() > 0 && ne.errno() < 4096) {
            errno = ne.errno();
        } else {
            errno = Linux.EIO;
        }
        long count = errors.incrementAndGet();
        if (count <= 10 || count % 1000 == 0) {
            LOG.log(System.Logger.Level.WARNING, "{0}: FUSE opcode {1} failed with {2} (error {3}): {4}", label, opcode,
                    Linux.strerror(errno), count, e.toString());
        }
        return errno;
    }

    /**
     * Stops answering: requests being processed finish (bounded by {@code timeout}), later ones are left for
     * the next run. The connection and its mount stay; the descriptor stays open until the process ends.
     * Returns false if requests were still being processed at the timeout.
     */
    public boolean quiesce(Duration timeout) throws InterruptedException {
        return gate.close(timeout);
    }

    /**
     * After the mount is gone (the kernel ended the connection): waits for the readers to end, then frees their
     * buffers and closes this process's descriptor.
     */
    @Override
    public void close() {
        for (Thread t : threads) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (t.isAlive()) {
                // a reader still blocked in read(2): the connection is alive; never free its buffer under it
                LOG.log(System.Logger.Level.WARNING, "{0}: reader {1} still running; leaving its buffer", label,
                        t.getName());
                return;
            }
        }
        conn.close();
        arena.close();
    }
}
