package dev.shadowcopy.attach.fuse;

import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.attach.sys.LinuxException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Mounting, unmounting and aborting our FUSE file systems. Each is a directory holding one file, {@code disk},
 * whose bytes are a block device served by {@link FuseServer}; a loop device is attached to that file.
 *
 * <p>We mount with mount(2) directly (we run as root; no fusermount), type {@code fuse.shadowcopy}, and
 * answer INIT here before anything can use the mount. What we ask for in INIT, and why:
 * <ul>
 *   <li>{@code ASYNC_DIO}: the loop device (direct I/O on) submits asynchronous kiocbs; with this flag the
 *       kernel sends them as concurrent requests instead of one at a time.</li>
 *   <li>{@code MAX_PAGES} = the kernel's limit (256 pages = 1 MiB on a default kernel): a 1 MiB write is one
 *       request.</li>
 *   <li>{@code max_background} 64: asynchronous direct I/O requests are background requests; the default
 *       (12) caps the queue depth a file system on the loop device can reach.</li>
 * </ul>
 * Not asked: the write-back cache (the file's data must never sit in a kernel cache we cannot flush
 * in order), POSIX locks, splice (measured separately; see docs/benchmarks.md).
 */
public final class FuseMount {
    public static final String FS_TYPE = "fuse.shadowcopy";
    public static final String FILE = "disk";
    private static final Path CONNECTIONS = Path.of("/sys/fs/fuse/connections");
    private static final int MAX_BACKGROUND = 64;

    private FuseMount() {}

    /**
     * Mounts a new connection on {@code dir} (an existing empty directory) and answers its INIT. The
     * descriptor is close-on-exec: programs we start (losetup, mount) must not hold the connection.
     */
    public static FuseConnection mount(Path dir, boolean readOnly) throws IOException {
        int fd = Linux.open("/dev/fuse", Linux.O_RDWR | Linux.O_CLOEXEC);
        if (fd < 0) {
            throw Linux.fail("open", "/dev/fuse (is the fuse module loaded?)");
        }
        boolean mounted = false;
        try {
            String options = "fd=" + fd + ",rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions";
            long flags = Linux.MS_NOSUID | Linux.MS_NODEV | Linux.MS_NOEXEC;
            if (Linux.mount("shadowcopy", dir.toString(), FS_TYPE, flags, options) != 0) {
                throw Linux.fail("mount " + FS_TYPE, dir.toString());
            }
            mounted = true;
            FuseConnection.Params p = answerInit(fd, dir);
            return new FuseConnection(fd, p, dir);
        } catch (IOException | RuntimeException e) {
            if (mounted) {
                Linux.umount2(dir.toString(), Linux.MNT_DETACH);
            }
            Linux.close(fd);
            throw e;
        }
    }

    private static FuseConnection.Params answerInit(int fd, Path dir) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(64 * 1024, 8);
            long n;
            do {
                n = Linux.read(fd, buf, buf.byteSize());
            } while (n < 0 && Linux.errno() == Linux.EINTR);
            if (n < 0) {
                throw Linux.fail("read of INIT", "/dev/fuse of " + dir);
            }
            int opcode = FuseWire.u32(buf, 4);
            long unique = FuseWire.u64(buf, 8);
            if (opcode != FuseWire.INIT || n < FuseWire.IN_HEADER + 16) {
                throw new IOException("the first FUSE request on " + dir + " was opcode " + opcode + " (" + n
                        + " bytes), not INIT");
            }
            int major = FuseWire.u32(buf, 40);
            int minor = FuseWire.u32(buf, 44);
            int readahead = FuseWire.u32(buf, 48);
            long kernelFlags = FuseWire.u32(buf, 52) & 0xffffffffL;
            if ((kernelFlags & FuseWire.INIT_EXT) != 0 && n >= FuseWire.IN_HEADER + 20) {
                kernelFlags |= (FuseWire.u32(buf, 56) & 0xffffffffL) << 32;
            }
            MemorySegment out = buf.asSlice(0, FuseWire.OUT_HEADER + FuseWire.INIT_OUT);
            out.fill((byte) 0);
            if (major != FuseWire.KERNEL_VERSION || minor < FuseWire.MIN_MINOR) {
                FuseWire.outHeader(out, 0, FuseWire.OUT_HEADER, -Linux.EPROTO, unique);
                Linux.write(fd, out, FuseWire.OUT_HEADER);
                throw new IOException("the kernel speaks FUSE " + major + "." + minor + "; Shadowcopy needs 7."
                        + FuseWire.MIN_MINOR + " or newer (Linux 5.9+)");
            }
            int ourMinor = Math.min(minor, FuseWire.OUR_MINOR);
            int maxPages = maxPagesLimit();
            int maxWrite = maxPages * 4096;
            long want = FuseWire.ASYNC_READ | FuseWire.BIG_WRITES | FuseWire.ASYNC_DIO | FuseWire.PARALLEL_DIROPS
                    | FuseWire.MAX_PAGES | FuseWire.INIT_EXT;
            long flags = want & kernelFlags;
            long o = FuseWire.OUT_HEADER;
            FuseWire.put32(out, o, FuseWire.KERNEL_VERSION);
            FuseWire.put32(out, o + 4, ourMinor);
            FuseWire.put32(out, o + 8, readahead);
            FuseWire.put32(out, o + 12, (int) flags);
            FuseWire.put16(out, o + 16, MAX_BACKGROUND);
            FuseWire.put16(out, o + 18, MAX_BACKGROUND * 3 / 4);
            FuseWire.put32(out, o + 20, maxWrite);
            FuseWire.put32(out, o + 24, 1);
            FuseWire.put16(out, o + 28, maxPages);
            FuseWire.put32(out, o + 32, (int) (flags >>> 32));
            FuseWire.outHeader(out, 0, (int) out.byteSize(), 0, unique);
            if (Linux.write(fd, out, out.byteSize()) < 0) {
                throw Linux.fail("write of the INIT reply", "/dev/fuse of " + dir);
            }
            return new FuseConnection.Params(ourMinor, maxWrite, (kernelFlags & FuseWire.HAS_RESEND) != 0);
        }
    }

    /** The kernel's cap on pages per request ({@code fs.fuse.max_pages_limit}, 256 by default). */
    static int maxPagesLimit() {
        try {
            // readAllLines, not readString: procfs reports size 0 and readString then returns one byte ("2")
            int v = Integer.parseInt(Files.readAllLines(Path.of("/proc/sys/fs/fuse/max_pages_limit")).getFirst().strip());
            return Math.clamp(v, 32, 256);
        } catch (IOException | RuntimeException e) {
            return 256;
        }
    }

    /** True if {@code dir} is the mount point of one of our FUSE file systems in this mount namespace. */
    public static boolean isMounted(Path dir) throws IOException {
        return mountInfo(dir) != null;
    }

    /**
     * The mountinfo fields of our FUSE mount on {@code dir}, or null. Read from /proc/self/mountinfo only:
     * a stat of the mount point would be a request to a server that may not be there, and would hang.
     */
    private static List<String> mountInfo(Path dir) throws IOException {
        String target = dir.toAbsolutePath().normalize().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            List<String> f = List.of(line.split(" "));
            int dash = f.indexOf("-");
            if (dash > 4 && dev.shadowcopy.attach.loop.DeviceUsers.unescape(f.get(4)).equals(target) && f.get(dash + 1).equals(FS_TYPE)) {
                return f;
            }
        }
        return null;
    }

    /**
     * Unmounts {@code dir}. The kernel then ends the connection: readers of its descriptor get ENODEV. With
     * {@code lazy}, the mount is detached at once even if the file is still open (the connection lives until
     * the last user lets go).
     */
    public static void unmount(Path dir, boolean lazy) throws IOException {
        if (Linux.umount2(dir.toString(), lazy ? Linux.MNT_DETACH : 0) != 0) {
            int e = Linux.errno();
            if (e == Linux.EINVAL || e == Linux.ENOENT) {
                return; // not mounted (any more)
            }
            throw new LinuxException("umount", dir.toString(), e);
        }
    }

    /**
     * Aborts the connection mounted on {@code dir} through the FUSE control file system: every waiting and
     * future request fails with an I/O error at once. What {@code --force} does to a device in use, and what
     * an admin does by hand when the service will not come back (docs/service.md).
     */
    public static boolean abort(Path dir) throws IOException {
        long id = connectionId(dir);
        if (id < 0) {
            return false;
        }
        Path conns = CONNECTIONS;
        if (!Files.exists(conns.resolve(Long.toString(id)))) {
            Linux.mount("fusectl", conns.toString(), "fusectl", 0, "");
        }
        Path abort = conns.resolve(Long.toString(id)).resolve("abort");
        if (!Files.exists(abort)) {
            return false;
        }
        Files.writeString(abort, "1");
        return true;
    }

    /** The kernel's number of the connection mounted on {@code dir} (the minor of its device), or -1. */
    public static long connectionId(Path dir) {
        try {
            List<String> f = mountInfo(dir);
            if (f == null) {
                return -1;
            }
            String[] majorMinor = f.get(2).split(":");
            return Long.parseLong(majorMinor[0]) == 0 ? Long.parseLong(majorMinor[1]) : -1;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
