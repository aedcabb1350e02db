package dev.shadowcopy.image.repository;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import dev.shadowcopy.platform.Formats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * The format of every file the repository stores (chunks, indexes, manifests): a 16-byte header, then
 * <ul>
 *   <li>unencrypted: the payload (zstd-compressed when flag 1) and a CRC32C of header ‖ payload;</li>
 *   <li>encrypted (flag 2): a random 12-byte nonce and AES-256-GCM(payload) with its 16-byte tag; the header
 *       and the object's name (chunk id, or backup id and file name) are authenticated as associated data, so
 *       a file renamed or moved to another place fails to decode.</li>
 * </ul>
 * Header (big-endian): magic {@code SCB1}, kind (1 chunk, 2 index, 3 manifest, 4 lease or collection state,
 * 5 verdict), flags, 2 reserved bytes, plaintext length, body length. Decoding checks every field against the file's
 * length before using it.
 *
 * <p>Two ways in: byte arrays (indexes, manifests) and native memory segments (chunks: the backup's and the
 * restore's hot path, where the chunk is compressed, encrypted, decrypted and decompressed between buffers the
 * caller reuses, with no copy on the Java heap; see {@link #encode(byte, MemorySegment, int, String, MemorySegment)}).
 * Both write and read the same bytes.
 *
 * <p>Thread-safety: instances are safe to share; compression contexts are per thread.
 */
public final class BlobCodec {
    public static final int HEADER = 16;
    public static final byte CHUNK = 1;
    public static final byte INDEX = 2;
    public static final byte MANIFEST = 3;
    /** Object storage's coordination objects: leases and the garbage collector's pending generation. */
    public static final byte STATE = 4;
    /** A backup point's verification verdict ({@code image.manifest.Verdicts}). */
    public static final byte VERDICT = 5;
    static final int MAX_PLAIN = 64 << 20;
    private static final int MAGIC = Formats.REPOSITORY_BLOB_MAGIC; // "SCB1", big-endian
    private static final int F_ZSTD = 1;
    private static final int F_AES = 2;
    private static final ValueLayout.OfInt INT_BE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final MemorySegment NO_AAD = MemorySegment.ofArray(new byte[0]);

    private final Keys keys;
    private final Crypto crypto = Keys.crypto();
    private final int level;
    private final ThreadLocal<ZstdCompressCtx> cctx;
    /** Compression output, reused per thread: a chunk-sized array per chunk would be a humongous allocation. */
    private static final ThreadLocal<byte[][]> SCRATCH = ThreadLocal.withInitial(() -> new byte[1][]);
    private static final ThreadLocal<ZstdDecompressCtx> DCTX = ThreadLocal.withInitial(ZstdDecompressCtx::new);

    public BlobCodec(Keys keys, int level) {
        this.keys = keys;
        this.level = level;
        this.cctx = ThreadLocal.withInitial(() -> new ZstdCompressCtx().setLevel(level));
    }

    public Keys keys() {
        return keys;
    }

    /** The largest blob a plaintext of {@code plain} bytes can encode to: the size of an output buffer. */
    public static int maxBlob(int plain) {
        return HEADER + Keys.NONCE + (int) Math.max(Zstd.compressBound(plain), plain) + Keys.TAG + 4;
    }

    /** Encodes {@code data[0, length)}; {@code name} is bound in when encrypted. */
    public byte[] encode(byte kind, byte[] data, int length, String name) {
        int bound = (int) Zstd.compressBound(length);
        byte[][] scratch = SCRATCH.get();
        if (scratch[0] == null || scratch[0].length < bound) {
            scratch[0] = new byte[bound];
        }
        byte[] packed = scratch[0];
        int n;
        int flags;
        try {
            n = cctx.get().compressByteArray(packed, 0, bound, data, 0, length);
            flags = F_ZSTD;
        } catch (ZstdException e) {
            throw new IllegalStateException("zstd compression failed: " + e.getMessage(), e);
        }
        byte[] payload = packed;
        if (n >= length) { // incompressible: store as is
            payload = data;
            n = length;
            flags = 0;
        }
        if (keys.encrypted()) {
            flags |= F_AES;
            byte[] out = new byte[HEADER + Keys.NONCE + n + Keys.TAG];
            header(out, kind, flags, length, Keys.NONCE + n + Keys.TAG);
            byte[] nonce = Keys.randomNonce();
            System.arraycopy(nonce, 0, out, HEADER, Keys.NONCE);
            MemorySegment o = MemorySegment.ofArray(out);
            crypto.gcmEncrypt(keys.encKey(), nonce, o.asSlice(0, HEADER), aad(name),
                    MemorySegment.ofArray(payload).asSlice(0, n), n, o.asSlice(HEADER + Keys.NONCE));
            return out;
        }
        byte[] out = new byte[HEADER + n + 4];
        header(out, kind, flags, length, n + 4);
        System.arraycopy(payload, 0, out, HEADER, n);
        CRC32C crc = new CRC32C();
        crc.update(out, 0, HEADER + n);
        ByteBuffer.wrap(out).putInt(HEADER + n, (int) crc.getValue());
        return out;
    }

    /**
     * Encodes {@code plain[0, length)} into {@code out} (native, at least {@link #maxBlob} bytes) and returns the
     * blob's length: compressed straight into {@code out}, encrypted there in place. {@code plain} is not changed.
     * The same bytes as {@link #encode(byte, byte[], int, String)} would give (but for the random nonce).
     */
    public int encode(byte kind, MemorySegment plain, int length, String name, MemorySegment out) {
        boolean aes = keys.encrypted();
        int at = HEADER + (aes ? Keys.NONCE : 0);
        int room = (int) Math.min(Integer.MAX_VALUE, out.byteSize() - at - (aes ? Keys.TAG : 4));
        int n;
        int flags;
        try {
            n = (int) cctx.get().compressDirectByteBuffer(out.asByteBuffer(), at, room, plain.asByteBuffer(), 0,
                    length);
            flags = F_ZSTD;
        } catch (ZstdException e) {
            n = length; // does not fit the room: certainly no smaller
            flags = 0;
        }
        if (n >= length) { // incompressible: store as is
            n = length;
            flags = 0;
            if (!aes) {
                MemorySegment.copy(plain, 0, out, at, length);
            }
        }
        MemorySegment payload = flags == 0 ? plain : out.asSlice(at, n);
        if (aes) {
            flags |= F_AES;
            header(out, kind, flags, length, Keys.NONCE + n + Keys.TAG);
            byte[] nonce = Keys.randomNonce();
            MemorySegment.copy(nonce, 0, out, ValueLayout.JAVA_BYTE, HEADER, Keys.NONCE);
            crypto.gcmEncrypt(keys.encKey(), nonce, out.asSlice(0, HEADER), aad(name), payload, n, out.asSlice(at));
            return at + n + Keys.TAG;
        }
        header(out, kind, flags, length, n + 4);
        CRC32C crc = new CRC32C();
        crc.update(out.asSlice(0, HEADER + n).asByteBuffer());
        out.set(INT_BE, HEADER + n, (int) crc.getValue());
        return HEADER + n + 4;
    }

    private static MemorySegment aad(String name) {
        return MemorySegment.ofArray(name.getBytes(StandardCharsets.UTF_8));
    }

    private static void header(byte[] out, byte kind, int flags, int plain, int body) {
        header(MemorySegment.ofArray(out), kind, flags, plain, body);
    }

    private static void header(MemorySegment out, byte kind, int flags, int plain, int body) {
        out.set(INT_BE, 0, MAGIC);
        out.set(ValueLayout.JAVA_BYTE, 4, kind);
        out.set(ValueLayout.JAVA_BYTE, 5, (byte) flags);
        out.set(ValueLayout.JAVA_SHORT_UNALIGNED, 6, (short) 0);
        out.set(INT_BE, 8, plain);
        out.set(INT_BE, 12, body);
    }

    /**
     * Decodes a stored file into {@code dst} (or a new array when null or too small) and returns the plaintext.
     * Its length is {@link #plainLength}.
     *
     * @throws RepositoryException CORRUPT when anything does not check out
     */
    public byte[] decode(byte kind, byte[] blob, int blobLength, String name, byte[] dst) throws RepositoryException {
        Frame f = frame(kind, MemorySegment.ofArray(blob), blobLength, name);
        byte[] payload;
        int off;
        if (f.aes) {
            payload = new byte[f.n];
            MemorySegment b = MemorySegment.ofArray(blob);
            byte[] nonce = new byte[Keys.NONCE];
            System.arraycopy(blob, HEADER, nonce, 0, Keys.NONCE);
            if (!crypto.gcmDecrypt(keys.encKey(), nonce, b.asSlice(0, HEADER), aad(name),
                    b.asSlice(HEADER + Keys.NONCE, f.n), f.n, b.asSlice(HEADER + Keys.NONCE + f.n, Keys.TAG),
                    MemorySegment.ofArray(payload))) {
                throw corrupt(name, "fails authentication (damaged, or not this object)");
            }
            off = 0;
        } else {
            payload = blob;
            off = HEADER;
        }
        byte[] out = dst != null && dst.length >= f.plain ? dst : new byte[f.plain];
        if (f.zstd) {
            int got;
            try {
                got = DCTX.get().decompressByteArray(out, 0, f.plain, payload, off, f.n);
            } catch (ZstdException e) {
                throw corrupt(name, "does not decompress: " + e.getMessage());
            }
            if (got != f.plain) {
                throw corrupt(name, "decompresses to " + got + " bytes, header says " + f.plain);
            }
        } else {
            if (f.n != f.plain) {
                throw corrupt(name, "stores " + f.n + " bytes, header says " + f.plain);
            }
            System.arraycopy(payload, off, out, 0, f.n);
        }
        return out;
    }

    /**
     * Decodes a blob held in native memory into {@code dst} (native, at least the plaintext's length) and returns
     * the plaintext's length. Decryption happens in place: {@code blob} holds garbage afterwards.
     *
     * @throws RepositoryException CORRUPT when anything does not check out
     */
    public int decode(byte kind, MemorySegment blob, int blobLength, String name, MemorySegment dst)
            throws RepositoryException {
        Frame f = frame(kind, blob, blobLength, name);
        if (f.plain > dst.byteSize()) {
            throw corrupt(name, "holds " + f.plain + " bytes, more than the " + dst.byteSize() + " expected");
        }
        int at = HEADER + (f.aes ? Keys.NONCE : 0);
        MemorySegment payload = blob.asSlice(at, f.n);
        if (f.aes) {
            byte[] nonce = blob.asSlice(HEADER, Keys.NONCE).toArray(ValueLayout.JAVA_BYTE);
            if (!crypto.gcmDecrypt(keys.encKey(), nonce, blob.asSlice(0, HEADER), aad(name), payload, f.n,
                    blob.asSlice(at + f.n, Keys.TAG), payload)) {
                throw corrupt(name, "fails authentication (damaged, or not this object)");
            }
        }
        if (f.zstd) {
            long got;
            try {
                got = DCTX.get().decompressDirectByteBuffer(dst.asByteBuffer(), 0, f.plain, blob.asByteBuffer(), at,
                        f.n);
            } catch (ZstdException e) {
                throw corrupt(name, "does not decompress: " + e.getMessage());
            }
            if (got != f.plain) {
                throw corrupt(name, "decompresses to " + got + " bytes, header says " + f.plain);
            }
        } else {
            if (f.n != f.plain) {
                throw corrupt(name, "stores " + f.n + " bytes, header says " + f.plain);
            }
            MemorySegment.copy(payload, 0, dst, 0, f.n);
        }
        return f.plain;
    }

    /** A blob's header, checked against its length; the checksum of an unencrypted one verified. */
    private record Frame(boolean aes, boolean zstd, int plain, int n) {}

    private Frame frame(byte kind, MemorySegment blob, int blobLength, String name) throws RepositoryException {
        if (blobLength < HEADER) {
            throw corrupt(name, "shorter than its header (" + blobLength + " bytes)");
        }
        if (blob.get(INT_BE, 0) != MAGIC) {
            throw corrupt(name, "bad magic");
        }
        byte k = blob.get(ValueLayout.JAVA_BYTE, 4);
        if (k != kind) {
            throw corrupt(name, "holds object kind " + k + ", expected " + kind);
        }
        int flags = blob.get(ValueLayout.JAVA_BYTE, 5);
        if ((flags & ~(F_ZSTD | F_AES)) != 0 || blob.get(ValueLayout.JAVA_SHORT_UNALIGNED, 6) != 0) {
            throw corrupt(name, "unknown flags " + flags);
        }
        int plain = blob.get(INT_BE, 8);
        int body = blob.get(INT_BE, 12);
        if (plain < 0 || plain > MAX_PLAIN || body < 0 || body != blobLength - HEADER) {
            throw corrupt(name, "lengths do not match the file (plain " + plain + ", body " + body + ", file "
                    + blobLength + ")");
        }
        boolean aes = (flags & F_AES) != 0;
        if (aes != keys.encrypted()) {
            throw corrupt(name, aes ? "is encrypted but the repository is not" : "is not encrypted but the "
                    + "repository is");
        }
        int n;
        if (aes) {
            n = body - Keys.NONCE - Keys.TAG;
            if (n < 0) {
                throw corrupt(name, "too short for its nonce and tag");
            }
        } else {
            n = body - 4;
            if (n < 0) {
                throw corrupt(name, "too short for its checksum");
            }
            CRC32C crc = new CRC32C();
            crc.update(blob.asSlice(0, HEADER + n).asByteBuffer());
            if ((int) crc.getValue() != blob.get(INT_BE, HEADER + n)) {
                throw corrupt(name, "checksum mismatch");
            }
        }
        return new Frame(aes, (flags & F_ZSTD) != 0, plain, n);
    }

    /** The plaintext length recorded in an encoded blob's header (valid after a successful decode). */
    public static int plainLength(byte[] blob) {
        return ByteBuffer.wrap(blob).getInt(8);
    }

    /** The plaintext length recorded in an encoded blob's header, or -1 when it is shorter than a header. */
    public static int plainLength(MemorySegment blob, long blobLength) {
        return blobLength < HEADER ? -1 : blob.get(INT_BE, 8);
    }

    public int level() {
        return level;
    }

    private static RepositoryException corrupt(String name, String why) {
        return new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: " + why);
    }
}
