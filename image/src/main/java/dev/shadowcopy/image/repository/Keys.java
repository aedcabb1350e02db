package dev.shadowcopy.image.repository;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The keys of a repository. Unencrypted: chunk ids are plain SHA-256. Encrypted: a random 64-byte master key
 * (32 bytes for AES-256-GCM, 32 for HMAC-SHA256 chunk ids) is stored in {@code repository.json} wrapped with
 * AES-256-GCM under a key derived from the passphrase by PBKDF2-HMAC-SHA256 (random 16-byte salt, 600 000
 * iterations by default, OWASP's 2023 figure). A changed passphrase therefore re-wraps 64 bytes, not the data.
 */
public final class Keys {
    public static final int DEFAULT_ITERATIONS = 600_000;
    static final int NONCE = 12;
    static final int TAG = 16;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final SecretKeySpec encKey;
    private final SecretKeySpec idKey;
    private final ThreadLocal<MessageDigest> sha = ThreadLocal.withInitial(Keys::sha256);
    private final ThreadLocal<Mac> hmac;

    private Keys(byte[] master) {
        if (master == null) {
            encKey = null;
            idKey = null;
            hmac = null;
        } else {
            encKey = new SecretKeySpec(master, 0, 32, "AES");
            idKey = new SecretKeySpec(master, 32, 32, "HmacSHA256");
            hmac = ThreadLocal.withInitial(this::newMac);
        }
    }

    public static Keys plain() {
        return new Keys(null);
    }

    /** Parameters for a new encrypted repository, and its keys. */
    public record Created(RepositoryConfig.Encryption params, Keys keys) {}

    public static Created create(char[] passphrase, String repoId, int iterations) throws RepositoryException {
        byte[] master = new byte[64];
        RANDOM.nextBytes(master);
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        byte[] kek = derive(passphrase, salt, iterations);
        byte[] nonce = new byte[NONCE];
        RANDOM.nextBytes(nonce);
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(kek, "AES"), new GCMParameterSpec(TAG * 8, nonce));
            c.updateAAD(repoId.getBytes(StandardCharsets.UTF_8));
            byte[] wrapped = c.doFinal(master);
            byte[] stored = new byte[NONCE + wrapped.length];
            System.arraycopy(nonce, 0, stored, 0, NONCE);
            System.arraycopy(wrapped, 0, stored, NONCE, wrapped.length);
            return new Created(new RepositoryConfig.Encryption("aes-256-gcm", "pbkdf2-hmac-sha256", iterations, salt,
                    stored), new Keys(master));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is not available", e);
        } finally {
            Arrays.fill(kek, (byte) 0);
        }
    }

    public static Keys unlock(RepositoryConfig.Encryption p, char[] passphrase, String repoId)
            throws RepositoryException {
        if (!"aes-256-gcm".equals(p.cipher()) || !"pbkdf2-hmac-sha256".equals(p.kdf())) {
            throw new RepositoryException(RepositoryException.Code.NOT_A_REPOSITORY, "unknown encryption " + p.cipher()
                    + " / " + p.kdf());
        }
        if (p.iterations() < 1 || p.iterations() > 100_000_000 || p.salt() == null || p.wrappedKey() == null
                || p.wrappedKey().length != NONCE + 64 + TAG) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, "the repository's key parameters are "
                    + "damaged");
        }
        byte[] kek = derive(passphrase, p.salt(), p.iterations());
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(kek, "AES"),
                    new GCMParameterSpec(TAG * 8, p.wrappedKey(), 0, NONCE));
            c.updateAAD(repoId.getBytes(StandardCharsets.UTF_8));
            return new Keys(c.doFinal(p.wrappedKey(), NONCE, p.wrappedKey().length - NONCE));
        } catch (AEADBadTagException e) {
            throw new RepositoryException(RepositoryException.Code.WRONG_PASSPHRASE, "wrong passphrase for this "
                    + "repository");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is not available", e);
        } finally {
            Arrays.fill(kek, (byte) 0);
        }
    }

    private static byte[] derive(char[] passphrase, byte[] salt, int iterations) {
        try {
            PBEKeySpec spec = new PBEKeySpec(passphrase, salt, iterations, 256);
            try {
                return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
            } finally {
                spec.clearPassword();
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 is not available", e);
        }
    }

    public boolean encrypted() {
        return encKey != null;
    }

    SecretKeySpec encKey() {
        return encKey;
    }

    static byte[] randomNonce() {
        byte[] n = new byte[NONCE];
        RANDOM.nextBytes(n);
        return n;
    }

    /** The id of a chunk with this plaintext. */
    public ChunkId chunkId(byte[] data, int offset, int length) {
        byte[] h;
        if (hmac == null) {
            MessageDigest d = sha.get();
            d.update(data, offset, length);
            h = d.digest();
        } else {
            Mac m = hmac.get();
            m.update(data, offset, length);
            h = m.doFinal();
        }
        return ChunkId.of(h);
    }

    /** SHA-256 of some bytes (manifests use it to pin their indexes). */
    public static byte[] sha256(byte[] data) {
        return sha256().digest(data);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private Mac newMac() {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(idKey);
            return m;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
