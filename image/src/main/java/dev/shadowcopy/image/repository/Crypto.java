package dev.shadowcopy.image.repository;

import java.lang.foreign.MemorySegment;

/**
 * The primitives a repository needs — AES-256-GCM, SHA-256, HMAC-SHA256, PBKDF2-HMAC-SHA256 — on memory segments
 * (native, or heap arrays wrapped with {@link MemorySegment#ofArray}), so that a chunk is hashed, encrypted and
 * decrypted where it lies, without a copy.
 *
 * <p>Two implementations give the same bytes (their conformance test checks it both ways): {@link OpenSslCrypto},
 * libcrypto through the foreign-function API, used when the library is there; {@link JdkCrypto}, the JDK's providers,
 * otherwise. Why not always the JDK: its AES-GCM runs at ~50 MB/s until C2 has compiled the caller of its intrinsic,
 * which with 1 MiB chunks takes several hundred megabytes (docs/benchmarks.md, "Where the product path lost its
 * time") — a whole restore in a fresh CLI process, or the first backup after the daemon starts. libcrypto is at full
 * speed from the first byte.
 *
 * <p>Thread-safety: implementations are safe to share.
 */
interface Crypto {
    int KEY = 32;
    int NONCE = 12;
    int TAG = 16;
    int DIGEST = 32;

    /** The fastest implementation available in this process. */
    static Crypto best() {
        return Holder.BEST;
    }

    /** What {@link #best} is, for messages and benchmarks: "openssl" or "jdk". */
    String name();

    /**
     * Encrypts {@code in[0, len)} into {@code out[0, len)} and writes the tag at {@code out[len, len + 16)};
     * {@code aad1} then {@code aad2} (either may be empty) are authenticated. {@code out} may be {@code in}.
     */
    void gcmEncrypt(byte[] key, byte[] nonce, MemorySegment aad1, MemorySegment aad2, MemorySegment in, long len,
                    MemorySegment out);

    /**
     * Decrypts {@code in[0, len)} (ciphertext, without its tag) into {@code out} and checks {@code tag}; false when
     * authentication fails (then {@code out} holds garbage). {@code out} may be {@code in}.
     */
    boolean gcmDecrypt(byte[] key, byte[] nonce, MemorySegment aad1, MemorySegment aad2, MemorySegment in, long len,
                       MemorySegment tag, MemorySegment out);

    /** SHA-256 of {@code data[0, len)} into {@code out[0, 32)}. */
    void sha256(MemorySegment data, long len, byte[] out);

    /** HMAC-SHA256 under {@code key} of {@code data[0, len)} into {@code out[0, 32)}. */
    void hmacSha256(byte[] key, MemorySegment data, long len, byte[] out);

    /** PBKDF2-HMAC-SHA256 of the passphrase (UTF-8) into a key of {@code length} bytes. */
    byte[] pbkdf2(char[] passphrase, byte[] salt, int iterations, int length);

    /** Picks the implementation once per process. */
    final class Holder {
        static final Crypto BEST = choose();

        private Holder() {}

        private static Crypto choose() {
            if (Boolean.getBoolean("shadowcopy.crypto.jdk")) {
                return new JdkCrypto();
            }
            Crypto c = OpenSslCrypto.load();
            return c != null ? c : new JdkCrypto();
        }
    }
}
