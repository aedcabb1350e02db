package dev.shadowcopy.image.repository;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * {@link Crypto} on OpenSSL's libcrypto (3.x), bound through the foreign-function API: AES-256-GCM with the EVP
 * cipher interface, SHA-256 with {@code EVP_Digest}, HMAC with the one-shot {@code HMAC()}, PBKDF2 with
 * {@code PKCS5_PBKDF2_HMAC}. The data calls are {@linkplain Linker.Option#critical(boolean) critical} with heap
 * access, so heap arrays are passed without a copy; each takes at most a few hundred microseconds (a 1 MiB chunk).
 *
 * <p>Cipher contexts are pooled (one per thread using one at a time; they are never freed: there are as many as
 * threads ever encrypted at once).
 */
final class OpenSslCrypto implements Crypto {
    private static final int EVP_CTRL_GCM_GET_TAG = 0x10;
    private static final int EVP_CTRL_GCM_SET_TAG = 0x11;

    private final MethodHandle ctxNew;
    private final MethodHandle encryptInit;
    private final MethodHandle encryptUpdate;
    private final MethodHandle encryptFinal;
    private final MethodHandle decryptInit;
    private final MethodHandle decryptUpdate;
    private final MethodHandle decryptFinal;
    private final MethodHandle ctrl;
    private final MethodHandle digest;
    private final MethodHandle hmac;
    private final MethodHandle pbkdf2;
    private final MemorySegment aes256gcm;
    private final MemorySegment sha256;
    private final ConcurrentLinkedQueue<MemorySegment> contexts = new ConcurrentLinkedQueue<>();

    private OpenSslCrypto(SymbolLookup lib) throws Throwable {
        Linker l = Linker.nativeLinker();
        Linker.Option critical = Linker.Option.critical(true);
        ctxNew = l.downcallHandle(find(lib, "EVP_CIPHER_CTX_new"), FunctionDescriptor.of(ADDRESS));
        FunctionDescriptor init = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        FunctionDescriptor update = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT);
        FunctionDescriptor fin = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        encryptInit = l.downcallHandle(find(lib, "EVP_EncryptInit_ex"), init, critical);
        encryptUpdate = l.downcallHandle(find(lib, "EVP_EncryptUpdate"), update, critical);
        encryptFinal = l.downcallHandle(find(lib, "EVP_EncryptFinal_ex"), fin, critical);
        decryptInit = l.downcallHandle(find(lib, "EVP_DecryptInit_ex"), init, critical);
        decryptUpdate = l.downcallHandle(find(lib, "EVP_DecryptUpdate"), update, critical);
        decryptFinal = l.downcallHandle(find(lib, "EVP_DecryptFinal_ex"), fin, critical);
        ctrl = l.downcallHandle(find(lib, "EVP_CIPHER_CTX_ctrl"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS), critical);
        digest = l.downcallHandle(find(lib, "EVP_Digest"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS), critical);
        hmac = l.downcallHandle(find(lib, "HMAC"),
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS),
                critical);
        pbkdf2 = l.downcallHandle(find(lib, "PKCS5_PBKDF2_HMAC"), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS)); // not critical: ~0.2 s of work
        aes256gcm = (MemorySegment) l.downcallHandle(find(lib, "EVP_aes_256_gcm"), FunctionDescriptor.of(ADDRESS))
                .invokeExact();
        sha256 = (MemorySegment) l.downcallHandle(find(lib, "EVP_sha256"), FunctionDescriptor.of(ADDRESS))
                .invokeExact();
        if (aes256gcm.equals(MemorySegment.NULL) || sha256.equals(MemorySegment.NULL)) {
            throw new UnsatisfiedLinkError("libcrypto has no AES-256-GCM or SHA-256");
        }
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libcrypto has no symbol " + name));
    }

    /** libcrypto 3 if this process can load it (and it passes a known-answer test), else null. */
    static OpenSslCrypto load() {
        for (String name : new String[] {"libcrypto.so.3", "libcrypto.so"}) {
            try {
                OpenSslCrypto c = new OpenSslCrypto(SymbolLookup.libraryLookup(name, Arena.global()));
                if (c.knownAnswer()) {
                    return c;
                }
            } catch (Throwable e) {
                // not there, or not usable: try the next name, then the JDK
            }
        }
        return null;
    }

    /** SHA-256("abc") as FIPS 180-2 gives it: the binding works before anything relies on it. */
    private boolean knownAnswer() {
        byte[] out = new byte[DIGEST];
        sha256(MemorySegment.ofArray("abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII)), 3, out);
        return java.util.HexFormat.of().formatHex(out)
                .equals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    @Override
    public String name() {
        return "openssl";
    }

    private MemorySegment context() {
        MemorySegment c = contexts.poll();
        if (c != null) {
            return c;
        }
        try {
            c = (MemorySegment) ctxNew.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("EVP_CIPHER_CTX_new failed", t);
        }
        if (c.equals(MemorySegment.NULL)) {
            throw new OutOfMemoryError("EVP_CIPHER_CTX_new returned NULL");
        }
        return c;
    }

    /** The same start either way: the key and nonce, then the associated data (the header, the object's name). */
    private void begin(MethodHandle init, MethodHandle update, MemorySegment ctx, MemorySegment outl, byte[] key,
                       byte[] nonce, MemorySegment aad1, MemorySegment aad2, String what) throws Throwable {
        check((int) init.invokeExact(ctx, aes256gcm, MemorySegment.NULL, MemorySegment.ofArray(key),
                MemorySegment.ofArray(nonce)), what + "Init_ex");
        for (MemorySegment aad : new MemorySegment[] {aad1, aad2}) {
            if (aad.byteSize() > 0) {
                check((int) update.invokeExact(ctx, MemorySegment.NULL, outl, aad, (int) aad.byteSize()),
                        what + "Update (AAD)");
            }
        }
    }

    @Override
    public void gcmEncrypt(byte[] key, byte[] nonce, MemorySegment aad1, MemorySegment aad2, MemorySegment in, long len,
                           MemorySegment out) {
        MemorySegment ctx = context();
        MemorySegment outl = MemorySegment.ofArray(new int[1]);
        try {
            begin(encryptInit, encryptUpdate, ctx, outl, key, nonce, aad1, aad2, "EVP_Encrypt");
            check((int) encryptUpdate.invokeExact(ctx, out, outl, in, Math.toIntExact(len)), "EVP_EncryptUpdate");
            check((int) encryptFinal.invokeExact(ctx, out.asSlice(len), outl), "EVP_EncryptFinal_ex");
            check((int) ctrl.invokeExact(ctx, EVP_CTRL_GCM_GET_TAG, TAG, out.asSlice(len, TAG)), "GCM tag");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("AES-GCM failed", t);
        } finally {
            contexts.add(ctx);
        }
    }

    @Override
    public boolean gcmDecrypt(byte[] key, byte[] nonce, MemorySegment aad1, MemorySegment aad2, MemorySegment in,
                              long len, MemorySegment tag, MemorySegment out) {
        MemorySegment ctx = context();
        MemorySegment outl = MemorySegment.ofArray(new int[1]);
        try {
            begin(decryptInit, decryptUpdate, ctx, outl, key, nonce, aad1, aad2, "EVP_Decrypt");
            check((int) decryptUpdate.invokeExact(ctx, out, outl, in, Math.toIntExact(len)), "EVP_DecryptUpdate");
            byte[] t = new byte[TAG]; // EVP_CIPHER_CTX_ctrl does not promise to leave the tag alone: a copy
            MemorySegment.copy(tag, 0, MemorySegment.ofArray(t), 0, TAG);
            check((int) ctrl.invokeExact(ctx, EVP_CTRL_GCM_SET_TAG, TAG, MemorySegment.ofArray(t)), "GCM tag");
            return (int) decryptFinal.invokeExact(ctx, out.asSlice(len), outl) > 0;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("AES-GCM failed", t);
        } finally {
            contexts.add(ctx);
        }
    }

    @Override
    public void sha256(MemorySegment data, long len, byte[] out) {
        try {
            check((int) digest.invokeExact(data, len, MemorySegment.ofArray(out), MemorySegment.NULL, sha256,
                    MemorySegment.NULL), "EVP_Digest");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("SHA-256 failed", t);
        }
    }

    @Override
    public void hmacSha256(byte[] key, MemorySegment data, long len, byte[] out) {
        MemorySegment r;
        try {
            r = (MemorySegment) hmac.invokeExact(sha256, MemorySegment.ofArray(key), KEY, data, len,
                    MemorySegment.ofArray(out), MemorySegment.NULL);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("HMAC-SHA256 failed", t);
        }
        if (r.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("HMAC-SHA256 failed in libcrypto");
        }
    }

    @Override
    public byte[] pbkdf2(char[] passphrase, byte[] salt, int iterations, int length) {
        byte[] pass = JdkCrypto.utf8(passphrase);
        byte[] out = new byte[length];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(Math.max(1, pass.length));
            MemorySegment.copy(MemorySegment.ofArray(pass), 0, p, 0, pass.length);
            MemorySegment s = a.allocate(Math.max(1, salt.length));
            MemorySegment.copy(MemorySegment.ofArray(salt), 0, s, 0, salt.length);
            MemorySegment o = a.allocate(length);
            check((int) pbkdf2.invokeExact(p, pass.length, s, salt.length, iterations, sha256, length, o),
                    "PKCS5_PBKDF2_HMAC");
            MemorySegment.copy(o, 0, MemorySegment.ofArray(out), 0, length);
            p.fill((byte) 0);
            o.fill((byte) 0);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("PBKDF2 failed", t);
        } finally {
            Arrays.fill(pass, (byte) 0);
        }
        return out;
    }

    private static void check(int rc, String what) {
        if (rc <= 0) {
            throw new IllegalStateException(what + " failed in libcrypto");
        }
    }
}
