package dev.shadowcopy.attach.fuse;

import dev.shadowcopy.attach.sys.Linux;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One open {@code /dev/fuse} descriptor of a mounted connection, with what INIT negotiated. The descriptor
 * is what keeps the connection alive: while any process holds a copy of it (this service, its holder,
 * systemd's store), the mount stays usable and requests wait; when the last copy closes, the kernel aborts
 * the connection and every waiting request fails. A connection is either made by {@link FuseMount#mount}
 * (INIT answered here) or adopted from a kept copy after a restart (INIT was answered by the previous run,
 * whose answer {@link Params} carries).
 */
public final class FuseConnection implements AutoCloseable {
    private final int fd;
    private final Params params;
    private final Path mountPoint;
    private final AtomicBoolean closed = new AtomicBoolean();

    /**
     * What INIT settled: protocol minor, the largest write the kernel sends, and whether the kernel can resend
     * requests a dead server had read (FUSE_HAS_RESEND, Linux ≥ 6.9).
     */
    public record Params(int minor, int maxWrite, boolean resend) {
        public Params {
            if (minor < FuseWire.MIN_MINOR || maxWrite < 4096 || maxWrite > (16 << 20)) {
                throw new IllegalArgumentException("bad FUSE parameters: minor " + minor + ", max_write " + maxWrite
                        + " (expected: minor >= " + FuseWire.MIN_MINOR + ", 4 KiB <= max_write <= 16 MiB)");
            }
        }

        /** {@code minor=40,max_write=1048576,resend=1}: how the attachment record stores it. */
        public String encode() {
            return "minor=" + minor + ",max_write=" + maxWrite + ",resend=" + (resend ? 1 : 0);
        }

        public static Params decode(String s) {
            int minor = -1;
            int maxWrite = -1;
            boolean resend = false;
            for (String kv : s.split(",")) {
                String[] p = kv.split("=", 2);
                if (p.length != 2) {
                    throw new IllegalArgumentException("bad FUSE parameters: " + s);
                }
                switch (p[0]) {
                    case "minor" -> minor = Integer.parseInt(p[1]);
                    case "max_write" -> maxWrite = Integer.parseInt(p[1]);
                    case "resend" -> resend = p[1].equals("1");
                    default -> { } // written by a newer version: ignore
                }
            }
            return new Params(minor, maxWrite, resend);
        }
    }

    FuseConnection(int fd, Params params, Path mountPoint) {
        this.fd = fd;
        this.params = params;
        this.mountPoint = mountPoint;
    }

    /** Adopts a kept descriptor of a connection made by an earlier run (the caller passes ownership of fd). */
    public static FuseConnection adopt(int fd, Params params, Path mountPoint) {
        return new FuseConnection(fd, params, mountPoint);
    }

    public int fd() {
        return fd;
    }

    public Params params() {
        return params;
    }

    public Path mountPoint() {
        return mountPoint;
    }

    /**
     * FUSE_NOTIFY_RESEND: the kernel puts every request that was read but not answered (by a server that died
     * or stopped answering) back in the queue, marked as resent. Call before serving an adopted connection.
     * Returns false where the kernel cannot (before Linux 6.9): those requests then wait forever.
     */
    public boolean resend() throws IOException {
        if (!params.resend()) {
            return false;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(FuseWire.OUT_HEADER, 8);
            FuseWire.outHeader(m, 0, FuseWire.OUT_HEADER, FuseWire.NOTIFY_RESEND, 0);
            if (Linux.write(fd, m, FuseWire.OUT_HEADER) < 0) {
                throw Linux.fail("FUSE_NOTIFY_RESEND", "/dev/fuse of " + mountPoint);
            }
        }
        return true;
    }

    /** Closes this process's copy of the descriptor (kept copies keep the connection). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Linux.close(fd);
        }
    }
}
