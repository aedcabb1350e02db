package dev.shadowcopy.image.repository;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Random;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

/**
 * The two {@link Crypto} implementations give the same bytes: what one encrypts the other decrypts, hashes and keys
 * agree, and both refuse a changed tag, ciphertext or associated data. A repository written by either is read by
 * the other. (libcrypto is on every machine this project targets; the test fails rather than skips without it.)
 */
class CryptoConformanceTest {
    private static final Crypto JDK = new JdkCrypto();
    private static final Crypto SSL = OpenSslCrypto.load();
    private final Random random = new Random(20);

    private byte[] bytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    @Test
    void libcryptoIsFoundAndIsTheBestImplementation() {
        assertNotNull(SSL, "libcrypto.so.3 through the foreign-function API");
        assertEquals("openssl", Crypto.best().name());
    }

    @Test
    void sha256MatchesTheStandardsKnownAnswerInBoth() {
        for (Crypto c : new Crypto[] {JDK, SSL}) {
            byte[] out = new byte[32];
            c.sha256(MemorySegment.ofArray("abc".getBytes(StandardCharsets.US_ASCII)), 3, out);
            assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                    HexFormat.of().formatHex(out), c.name());
        }
    }

    @Test
    void hashesAgreeOnHeapAndNativeMemoryOfEverySize() throws Exception {
        byte[] key = bytes(32);
        Mac reference = Mac.getInstance("HmacSHA256");
        reference.init(new SecretKeySpec(key, "HmacSHA256"));
        try (Arena a = Arena.ofConfined()) {
            for (int n : new int[] {0, 1, 63, 64, 65, 4096, 1 << 20}) {
                byte[] data = bytes(n);
                MemorySegment nat = a.allocate(Math.max(1, n));
                MemorySegment.copy(data, 0, nat, ValueLayout.JAVA_BYTE, 0, n);
                byte[] want = reference.doFinal(data);
                for (Crypto c : new Crypto[] {JDK, SSL}) {
                    for (MemorySegment s : new MemorySegment[] {MemorySegment.ofArray(data), nat}) {
                        byte[] h = new byte[32];
                        c.hmacSha256(key, s, n, h);
                        assertArrayEquals(want, h, c.name() + " hmac of " + n);
                        byte[] d1 = new byte[32];
                        byte[] d2 = new byte[32];
                        c.sha256(s, n, d1);
                        JDK.sha256(MemorySegment.ofArray(data), n, d2);
                        assertArrayEquals(d2, d1, c.name() + " sha256 of " + n);
                    }
                }
            }
        }
    }

    @Test
    void whatOneEncryptsTheOtherDecryptsInPlaceOrNot() {
        byte[] key = bytes(32);
        MemorySegment aad1 = MemorySegment.ofArray(bytes(16));
        MemorySegment aad2 = MemorySegment.ofArray("chunk abc".getBytes(StandardCharsets.UTF_8));
        try (Arena a = Arena.ofConfined()) {
            for (int n : new int[] {0, 1, 15, 16, 17, 8000, 1 << 20}) {
                byte[] plain = bytes(n);
                byte[] nonce = bytes(12);
                byte[][] outs = new byte[2][];
                int i = 0;
                for (Crypto c : new Crypto[] {JDK, SSL}) {
                    MemorySegment out = a.allocate(n + 16);
                    c.gcmEncrypt(key, nonce, aad1, aad2, MemorySegment.ofArray(plain), n, out);
                    outs[i++] = out.toArray(ValueLayout.JAVA_BYTE);
                }
                assertArrayEquals(outs[0], outs[1], "same ciphertext and tag for " + n + " bytes");
                for (Crypto c : new Crypto[] {JDK, SSL}) {
                    MemorySegment in = a.allocate(n + 16);
                    MemorySegment.copy(outs[0], 0, in, ValueLayout.JAVA_BYTE, 0, n + 16);
                    assertTrue(c.gcmDecrypt(key, nonce, aad1, aad2, in.asSlice(0, n), n, in.asSlice(n, 16),
                            in.asSlice(0, n)), c.name() + " in place");
                    assertArrayEquals(plain, in.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE));
                }
                MemorySegment inPlace = a.allocate(n + 16);
                MemorySegment.copy(plain, 0, inPlace, ValueLayout.JAVA_BYTE, 0, n);
                SSL.gcmEncrypt(key, nonce, aad1, aad2, inPlace, n, inPlace);
                assertArrayEquals(outs[0], inPlace.toArray(ValueLayout.JAVA_BYTE), "encrypted in place");
            }
        }
    }

    @Test
    void bothRefuseAChangedTagCiphertextOrAssociatedData() {
        byte[] key = bytes(32);
        byte[] nonce = bytes(12);
        MemorySegment aad = MemorySegment.ofArray("backup x/manifest".getBytes(StandardCharsets.UTF_8));
        byte[] plain = bytes(1000);
        byte[] sealed = new byte[1016];
        SSL.gcmEncrypt(key, nonce, aad, MemorySegment.ofArray(new byte[0]), MemorySegment.ofArray(plain), 1000,
                MemorySegment.ofArray(sealed));
        for (Crypto c : new Crypto[] {JDK, SSL}) {
            for (int flip : new int[] {0, 999, 1000, 1015}) {
                byte[] b = sealed.clone();
                b[flip] ^= 1;
                MemorySegment s = MemorySegment.ofArray(b);
                assertFalse(c.gcmDecrypt(key, nonce, aad, MemorySegment.ofArray(new byte[0]), s.asSlice(0, 1000), 1000,
                        s.asSlice(1000, 16), MemorySegment.ofArray(new byte[1000])), c.name() + " byte " + flip);
            }
            MemorySegment s = MemorySegment.ofArray(sealed.clone());
            assertFalse(c.gcmDecrypt(key, nonce, MemorySegment.ofArray("backup y/manifest".getBytes(
                    StandardCharsets.UTF_8)), MemorySegment.ofArray(new byte[0]), s.asSlice(0, 1000), 1000,
                    s.asSlice(1000, 16), MemorySegment.ofArray(new byte[1000])), c.name() + " other name");
        }
    }

    @Test
    void pbkdf2GivesTheSameKeyForAnyPassphrase() {
        byte[] salt = bytes(16);
        for (String p : new String[] {"correct horse", "ü-ñ-€-😀", "x"}) {
            assertArrayEquals(JDK.pbkdf2(p.toCharArray(), salt, 1000, 32), SSL.pbkdf2(p.toCharArray(), salt, 1000, 32),
                    p);
        }
    }

    @Test
    void blobsEncodedFromNativeMemoryDecodeAsArraysAndBack() throws Exception {
        Keys plain = Keys.plain();
        Keys enc = Keys.create("pw".toCharArray(), "repo-id", 1000).keys();
        try (Arena a = Arena.ofConfined()) {
            for (Keys k : new Keys[] {plain, enc}) {
                BlobCodec codec = new BlobCodec(k, 1);
                for (boolean compressible : new boolean[] {true, false}) {
                    int n = 1 << 20;
                    byte[] data = compressible ? new byte[n] : bytes(n);
                    if (compressible) {
                        for (int i = 0; i < n; i++) {
                            data[i] = (byte) ("log line " + (i / 40)).charAt(i % 8);
                        }
                    }
                    MemorySegment src = a.allocate(n);
                    MemorySegment.copy(data, 0, src, ValueLayout.JAVA_BYTE, 0, n);
                    MemorySegment out = a.allocate(BlobCodec.maxBlob(n));
                    int len = codec.encode(BlobCodec.CHUNK, src, n, "chunk c", out);
                    byte[] blob = out.asSlice(0, len).toArray(ValueLayout.JAVA_BYTE);
                    assertArrayEquals(data, codec.decode(BlobCodec.CHUNK, blob, blob.length, "chunk c", null));
                    byte[] arrayBlob = codec.encode(BlobCodec.CHUNK, data, n, "chunk c");
                    MemorySegment in = a.allocate(arrayBlob.length);
                    MemorySegment.copy(arrayBlob, 0, in, ValueLayout.JAVA_BYTE, 0, arrayBlob.length);
                    MemorySegment dst = a.allocate(n);
                    assertEquals(n, codec.decode(BlobCodec.CHUNK, in, arrayBlob.length, "chunk c", dst));
                    assertArrayEquals(data, dst.toArray(ValueLayout.JAVA_BYTE));
                    assertEquals(k.chunkId(data, 0, n), k.chunkId(dst, n));
                    if (!compressible && !k.encrypted()) {
                        assertEquals(BlobCodec.HEADER + n + 4, len, "stored as is");
                    }
                }
            }
        }
    }
}
