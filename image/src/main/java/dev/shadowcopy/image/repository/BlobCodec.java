package dev.shadowcopy.image.repository;

import dev.shadowcopy.platform.Formats;
import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.zip.CRC32C;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * The format of every file the repository stores (chunks, indexes, manifests): a 16-byte header, then
 * <ul>
 *   <li>unencrypted: the payload (zstd-compressed when flag 1) and a CRC32C of header ‖ payload;</li>
 *   <li>encrypted (flag 2): a random 12-byte nonce and AES-256-GCM(payload) with its 16-byte tag; the header
 *       and the object's name (chunk id, or backup id and file name) are authenticated as associated data, so
 *       a file renamed or moved to another place fails to decode.</li>
 * </ul>
 * Header (big-endian): magic {@code SCB1}, kind (1 chunk, 2 index, 3 manifest, 4 lease or collection state),
 * flags, 2 reserved bytes, plaintext length, body length. Decoding checks every field against the file's length before using it.
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
    static final int MAX_PLAIN = 64 << 20;
    private static final int MAGIC = Formats.REPOSITORY_BLOB_MAGIC; // "SCB1", big-endian
    private static final int F_ZSTD = 1;
    private static final int F_AES = 2;

    private final Keys keys;
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
            try {
                Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
                c.init(Cipher.ENCRYPT_MODE, keys.encKey(), new GCMParameterSpec(Keys.TAG * 8, nonce));
                c.updateAAD(out, 0, HEADER);
                c.updateAAD(name.getBytes(StandardCharsets.UTF_8));
                c.doFinal(payload, 0, n, out, HEADER + Keys.NONCE);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES-GCM failed", e);
            }
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

    private static void header(byte[] out, byte kind, int flags, int plain, int body) {
        ByteBuffer b = ByteBuffer.wrap(out);
        b.putInt(MAGIC).put(kind).put((byte) flags).putShort((short) 0).putInt(plain).putInt(body);
    }

    /**
     * Decodes a stored file into {@code dst} (or a new array when null or too small) and returns the plaintext.
     * Its length is {@link #plainLength}.
     *
     * @throws RepositoryException CORRUPT when anything does not check out
     */
    public byte[] decode(byte kind, byte[] blob, int blobLength, String name, byte[] dst) throws RepositoryException {
        if (blobLength < HEADER) {
            throw corrupt(name, "shorter than its header (" + blobLength + " bytes)");
        }
        ByteBuffer b = ByteBuffer.wrap(blob, 0, blobLength);
        if (b.getInt(0) != MAGIC) {
            throw corrupt(name, "bad magic");
        }
        if (blob[4] != kind) {
            throw corrupt(name, "holds object kind " + blob[4] + ", expected " + kind);
        }
        int flags = blob[5];
        if ((flags & ~(F_ZSTD | F_AES)) != 0 || b.getShort(6) != 0) {
            throw corrupt(name, "unknown flags " + flags);
        }
        int plain = b.getInt(8);
        int body = b.getInt(12);
        if (plain < 0 || plain > MAX_PLAIN || body < 0 || body != blobLength - HEADER) {
            throw corrupt(name, "lengths do not match the file (plain " + plain + ", body " + body + ", file "
                    + blobLength + ")");
        }
        boolean aes = (flags & F_AES) != 0;
        if (aes != keys.encrypted()) {
            throw corrupt(name, aes ? "is encrypted but the repository is not" : "is not encrypted but the "
                    + "repository is");
        }
        byte[] payload;
        int n;
        if (aes) {
            n = body - Keys.NONCE - Keys.TAG;
            if (n < 0) {
                throw corrupt(name, "too short for its nonce and tag");
            }
            payload = new byte[n];
            try {
                Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
                c.init(Cipher.DECRYPT_MODE, keys.encKey(), new GCMParameterSpec(Keys.TAG * 8, blob, HEADER,
                        Keys.NONCE));
                c.updateAAD(blob, 0, HEADER);
                c.updateAAD(name.getBytes(StandardCharsets.UTF_8));
                c.doFinal(blob, HEADER + Keys.NONCE, n + Keys.TAG, payload, 0);
            } catch (AEADBadTagException e) {
                throw corrupt(name, "fails authentication (damaged, or not this object)");
            } catch (GeneralSecurityException e) {
                throw corrupt(name, "cannot be decrypted: " + e.getMessage());
            }
        } else {
            n = body - 4;
            if (n < 0) {
                throw corrupt(name, "too short for its checksum");
            }
            CRC32C crc = new CRC32C();
            crc.update(blob, 0, HEADER + n);
            if ((int) crc.getValue() != b.getInt(HEADER + n)) {
                throw corrupt(name, "checksum mismatch");
            }
            payload = blob;
        }
        int off = aes ? 0 : HEADER;
        byte[] out = dst != null && dst.length >= plain ? dst : new byte[plain];
        if ((flags & F_ZSTD) != 0) {
            int got;
            try {
                got = DCTX.get().decompressByteArray(out, 0, plain, payload, off, n);
            } catch (ZstdException e) {
                throw corrupt(name, "does not decompress: " + e.getMessage());
            }
            if (got != plain) {
                throw corrupt(name, "decompresses to " + got + " bytes, header says " + plain);
            }
        } else {
            if (n != plain) {
                throw corrupt(name, "stores " + n + " bytes, header says " + plain);
            }
            System.arraycopy(payload, off, out, 0, n);
        }
        return out;
    }

    /** The plaintext length recorded in an encoded blob's header (valid after a successful decode). */
    public static int plainLength(byte[] blob) {
        return ByteBuffer.wrap(blob).getInt(8);
    }

    public int level() {
        return level;
    }

    private static RepositoryException corrupt(String name, String why) {
        return new RepositoryException(RepositoryException.Code.CORRUPT, name + " is damaged: " + why);
    }
}
