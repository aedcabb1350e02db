package dev.shadowcopy.attach.fuse;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * The FUSE kernel protocol as this server speaks it (Linux {@code include/uapi/linux/fuse.h}, 7.x; we need
 * at least 7.31 and use up to 7.40). All integers are in the host's byte order (little-endian on x86_64 and
 * aarch64), every structure padded to 8 bytes. Names follow the header.
 *
 * <pre>
 * request  = fuse_in_header (40 bytes) + opcode's argument + payload
 *   fuse_in_header: u32 len @0, u32 opcode @4, u64 unique @8, u64 nodeid @16, u32 uid @24, u32 gid @28,
 *                   u32 pid @32, u16 total_extlen @36, u16 padding @38
 * reply    = fuse_out_header (16 bytes) + opcode's result
 *   fuse_out_header: u32 len @0, i32 error @4 (0 or -errno), u64 unique @8 (as received, resend bit included)
 * notify   = fuse_out_header with unique 0 and error = notify code, written by the server unasked
 *
 * fuse_init_in  (@40): u32 major, u32 minor, u32 max_readahead, u32 flags, u32 flags2, u32 unused[11]
 * fuse_init_out (64):  u32 major, u32 minor, u32 max_readahead, u32 flags, u16 max_background,
 *                      u16 congestion_threshold, u32 max_write, u32 time_gran, u16 max_pages,
 *                      u16 map_alignment, u32 flags2, u32 max_stack_depth, u16 request_timeout, u16 unused[11]
 * fuse_attr     (88):  u64 ino, size, blocks, atime, mtime, ctime; u32 atimensec, mtimensec, ctimensec, mode,
 *                      nlink, uid, gid, rdev, blksize, flags
 * fuse_entry_out(128): u64 nodeid, generation, entry_valid, attr_valid; u32 entry_valid_nsec,
 *                      attr_valid_nsec; fuse_attr
 * fuse_attr_out (104): u64 attr_valid; u32 attr_valid_nsec, dummy; fuse_attr
 * fuse_open_in  (8):   u32 flags, u32 open_flags       fuse_open_out (16): u64 fh, u32 open_flags, i32 backing_id
 * fuse_read_in  (40):  u64 fh, u64 offset, u32 size, u32 read_flags, u64 lock_owner, u32 flags, u32 padding
 * fuse_write_in (40):  as fuse_read_in (write_flags); the data follows     fuse_write_out (8): u32 size, u32 pad
 * fuse_fsync_in (16):  u64 fh, u32 fsync_flags, u32 padding
 * fuse_fallocate_in (32): u64 fh, u64 offset, u64 length, u32 mode, u32 padding
 * fuse_setattr_in (88): u32 valid @0, u64 size @16 (the rest unused here)
 * fuse_kstatfs  (80):  u64 blocks, bfree, bavail, files, ffree; u32 bsize, namelen, frsize, padding, spare[6]
 * fuse_dirent:         u64 ino, u64 off, u32 namelen, u32 type, name padded to 8 bytes
 * </pre>
 *
 * A resent request (after FUSE_NOTIFY_RESEND) carries {@link #UNIQUE_RESEND} in its unique; the reply echoes
 * the unique unchanged.
 */
final class FuseWire {
    private FuseWire() {}

    static final int KERNEL_VERSION = 7;
    /** The newest minor whose structures this class knows. */
    static final int OUR_MINOR = 40;
    /** The oldest minor we accept: 7.31 has 64-byte init_out, max_pages, parallel direct writes come later. */
    static final int MIN_MINOR = 31;

    static final int IN_HEADER = 40;
    static final int OUT_HEADER = 16;
    static final int INIT_OUT = 64;
    static final int ATTR = 88;
    static final int ENTRY_OUT = 128;
    static final int ATTR_OUT = 104;
    static final int OPEN_OUT = 16;
    static final int WRITE_OUT = 8;
    static final int STATFS_OUT = 80;
    static final int WRITE_IN = 40;

    // opcodes
    static final int LOOKUP = 1;
    static final int FORGET = 2;
    static final int GETATTR = 3;
    static final int SETATTR = 4;
    static final int OPEN = 14;
    static final int READ = 15;
    static final int WRITE = 16;
    static final int STATFS = 17;
    static final int RELEASE = 18;
    static final int FSYNC = 20;
    static final int FLUSH = 25;
    static final int INIT = 26;
    static final int OPENDIR = 27;
    static final int READDIR = 28;
    static final int RELEASEDIR = 29;
    static final int FSYNCDIR = 30;
    static final int INTERRUPT = 36;
    static final int DESTROY = 38;
    static final int BATCH_FORGET = 42;
    static final int FALLOCATE = 43;

    static final int NOTIFY_RESEND = 7;
    static final long UNIQUE_RESEND = 1L << 63;

    // init flags (flags | flags2 << 32)
    static final long ASYNC_READ = 1L;
    static final long BIG_WRITES = 1L << 5;
    static final long ASYNC_DIO = 1L << 15;
    static final long PARALLEL_DIROPS = 1L << 18;
    static final long MAX_PAGES = 1L << 22;
    static final long INIT_EXT = 1L << 30;
    static final long HAS_RESEND = 1L << 39;

    // open reply flags
    static final int FOPEN_DIRECT_IO = 1;
    static final int FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;

    // setattr valid bits
    static final int FATTR_SIZE = 1 << 3;

    // fallocate modes
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;

    static final int S_IFDIR = 0040000;
    static final int S_IFREG = 0100000;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    static int u32(MemorySegment s, long off) {
        return s.get(INT, off);
    }

    static long u64(MemorySegment s, long off) {
        return s.get(LONG, off);
    }

    static void put32(MemorySegment s, long off, int v) {
        s.set(INT, off, v);
    }

    static void put64(MemorySegment s, long off, long v) {
        s.set(LONG, off, v);
    }

    static void put16(MemorySegment s, long off, int v) {
        s.set(SHORT, off, (short) v);
    }

    /** Writes a reply header at {@code off}. */
    static void outHeader(MemorySegment s, long off, int len, int negErrno, long unique) {
        put32(s, off, len);
        put32(s, off + 4, negErrno);
        put64(s, off + 8, unique);
    }

    /** Writes a fuse_attr at {@code off}. */
    static void attr(MemorySegment s, long off, long ino, long size, int mode, int nlink, int blksize, long time) {
        s.asSlice(off, ATTR).fill((byte) 0);
        put64(s, off, ino);
        put64(s, off + 8, size);
        put64(s, off + 16, (size + 511) / 512);
        put64(s, off + 24, time);
        put64(s, off + 32, time);
        put64(s, off + 40, time);
        put32(s, off + 60, mode);
        put32(s, off + 64, nlink);
        put32(s, off + 80, blksize);
    }

    /** The name argument of a LOOKUP (NUL-terminated after the header). */
    static String name(MemorySegment s, long off, int max) {
        int n = 0;
        while (n < max && s.get(ValueLayout.JAVA_BYTE, off + n) != 0) {
            n++;
        }
        return new String(s.asSlice(off, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    /** Writes one fuse_dirent at {@code off}; returns its padded size. */
    static int dirent(MemorySegment s, long off, long ino, long nextOffset, String name, int type) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        int size = (24 + n.length + 7) & ~7;
        s.asSlice(off, size).fill((byte) 0);
        put64(s, off, ino);
        put64(s, off + 8, nextOffset);
        put32(s, off + 16, n.length);
        put32(s, off + 20, type);
        MemorySegment.copy(n, 0, s, ValueLayout.JAVA_BYTE, off + 24, n.length);
        return size;
    }

    static int direntSize(String name) {
        return (24 + name.getBytes(StandardCharsets.UTF_8).length + 7) & ~7;
    }
}
