package dev.shadowcopy.image.repository;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The keys of a repository. Unencrypted: chunk ids are plain SHA-256. Encrypted: a random 64-byte master key
 * (32 bytes for AES-256-GCM, 32 for HMAC-SHA256 chunk ids) is stored in {@code repository.json} wrapped with
 * AES-256-GCM under a key derived from the passphrase by PBKDF2-HMAC-SHA256 (random 16-byte salt, 600 000
 * iterations by default, OWASP's 2023 figure). A changed passphrase therefore re-wraps 64 bytes, not the data.
 * The primitives are {@link Crypto#best()}'s (libcrypto when present: see {@link Crypto} for why).
 */
public final class Keys {
    public static final int DEFAULT_ITERATIONS = 600_000;
    static final int NONCE = 12;
    static final int TAG = 16;
    private static final SecureRandom RANDOM = new SecureRandom();

    private static final Crypto CRYPTO = Crypto.best();

    /** AES-256-GCM key of the blobs; null when unencrypted. */
    private final byte[] encKey;
    /** HMAC-SHA256 key of the chunk names; null when unencrypted (plain SHA-256). */
    private final byte[] idKey;

    private Keys(byte[] master) {
        if (master == null) {
            encKey = null;
            idKey = null;
        } else {
            encKey = Arrays.copyOfRange(master, 0, 32);
            idKey = Arrays.copyOfRange(master, 32, 64);
        }
    }

    /** The implementation of the primitives in use ("openssl" or "jdk"), for benchmarks and diagnostics. */
    public static String cryptoImplementation() {
        return CRYPTO.name();
    }

    static Crypto crypto() {
        return CRYPTO;
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
        return CRYPTO.pbkdf2(passphrase, salt, iterations, 32);
    }

    public boolean encrypted() {
        return encKey != null;
    }

    byte[] encKey() {
        return encKey;
    }

    static byte[] randomNonce() {
        byte[] n = new byte[NONCE];
        RANDOM.nextBytes(n);
        return n;
    }

    /** The id of a chunk with this plaintext. */
    public ChunkId chunkId(byte[] data, int offset, int length) {
        return chunkId(MemorySegment.ofArray(data).asSlice(offset, length), length);
    }

    /** The id of a chunk with the plaintext {@code data[0, length)}, hashed where it lies (no copy). */
    public ChunkId chunkId(MemorySegment data, long length) {
        byte[] h = new byte[Crypto.DIGEST];
        if (idKey == null) {
            CRYPTO.sha256(data, length, h);
        } else {
            CRYPTO.hmacSha256(idKey, data, length, h);
        }
        return ChunkId.of(h);
    }

    /** SHA-256 of some bytes (manifests use it to pin their indexes). */
    public static byte[] sha256(byte[] data) {
        byte[] h = new byte[Crypto.DIGEST];
        CRYPTO.sha256(MemorySegment.ofArray(data), data.length, h);
        return h;
    }
}
