package dev.shadowcopy.image.repository;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * {@link Crypto} on the JDK's providers: everywhere, but slow to warm up (see {@link Crypto}). Native segments are
 * handed to the JDK as direct byte buffers, heap ones as arrays, so neither is copied here.
 */
final class JdkCrypto implements Crypto {
    private final ThreadLocal<MessageDigest> sha = ThreadLocal.withInitial(() -> instance("SHA-256"));

    @Override
    public String name() {
        return "jdk";
    }

    private static MessageDigest instance(String algorithm) {
        try {
            return MessageDigest.getInstance(algorithm);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(algorithm + " is not available", e);
        }
    }

    @Override
    public void gcmEncrypt(byte[] key, byte[] nonce, MemorySegment aad1, MemorySegment aad2, MemorySegment in, long len,
                           MemorySegment out) {
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, 0, KEY, "AES"), new GCMParameterSpec(TAG * 8, nonce));
            c.updateAAD(buffer(aad1, aad1.byteSize()));
            c.updateAAD(buffer(aad2, aad2.byteSize()));
            ByteBuffer src = buffer(in, len);
            if (in.equals(out)) {
                src = copy(src); // the JDK's GCM does not encrypt in place into a buffer it reads
            }
            c.doFinal(src, buffer(out, len + TAG));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM failed", e);
        }
    }

    @Override
    public boolean gcmDecrypt(byte[] key, byte[] nonce, MemorySegment aad1, MemorySegment aad2, MemorySegment in,
                              long len, MemorySegment tag, MemorySegment out) {
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, 0, KEY, "AES"), new GCMParameterSpec(TAG * 8, nonce));
            c.updateAAD(buffer(aad1, aad1.byteSize()));
            c.updateAAD(buffer(aad2, aad2.byteSize()));
            byte[] whole = new byte[(int) len + TAG]; // the JDK wants ciphertext and tag together
            MemorySegment.copy(in, ValueLayout.JAVA_BYTE, 0, whole, 0, (int) len);
            MemorySegment.copy(tag, ValueLayout.JAVA_BYTE, 0, whole, (int) len, TAG);
            c.doFinal(ByteBuffer.wrap(whole), buffer(out, len));
            return true;
        } catch (AEADBadTagException e) {
            return false;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM failed", e);
        }
    }

    @Override
    public void sha256(MemorySegment data, long len, byte[] out) {
        MessageDigest d = sha.get();
        d.update(buffer(data, len));
        digestInto(d, out);
    }

    @Override
    public void hmacSha256(byte[] key, MemorySegment data, long len, byte[] out) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(key, 0, KEY, "HmacSHA256"));
            m.update(buffer(data, len));
            m.doFinal(out, 0);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HMAC-SHA256 failed", e);
        }
    }

    @Override
    public byte[] pbkdf2(char[] passphrase, byte[] salt, int iterations, int length) {
        PBEKeySpec spec = new PBEKeySpec(passphrase, salt, iterations, length * 8);
        try {
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 is not available", e);
        } finally {
            spec.clearPassword();
        }
    }

    /** The passphrase as PBKDF2 sees it (UTF-8, as the JDK's PBKDF2 encodes it). */
    static byte[] utf8(char[] passphrase) {
        ByteBuffer b = StandardCharsets.UTF_8.encode(CharBuffer.wrap(passphrase));
        byte[] out = Arrays.copyOfRange(b.array(), b.position(), b.limit());
        Arrays.fill(b.array(), (byte) 0);
        return out;
    }

    private static void digestInto(MessageDigest d, byte[] out) {
        try {
            d.digest(out, 0, DIGEST);
        } catch (java.security.DigestException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ByteBuffer buffer(MemorySegment s, long len) {
        if (s.isNative()) {
            return s.asSlice(0, len).asByteBuffer();
        }
        byte[] a = (byte[]) s.heapBase().orElseThrow();
        return ByteBuffer.wrap(a, (int) s.address(), (int) len);
    }

    private static ByteBuffer copy(ByteBuffer b) {
        ByteBuffer c = ByteBuffer.allocate(b.remaining());
        c.put(b.duplicate()).flip();
        return c;
    }
}
