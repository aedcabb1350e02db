package dev.shadowcopy.image.repository;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * The name of a chunk: SHA-256 of its plaintext (HMAC-SHA256 under the repository's id key when encrypted,
 * so that names do not reveal content). {@link #ZERO} (32 zero bytes) stands for a chunk that reads as zeros
 * and is never stored.
 */
public final class ChunkId implements Comparable<ChunkId> {
    public static final int BYTES = 32;
    public static final ChunkId ZERO = new ChunkId(new byte[BYTES]);
    private static final HexFormat HEX = HexFormat.of();

    private final byte[] bytes;
    private final int hash;

    private ChunkId(byte[] bytes) {
        this.bytes = bytes;
        this.hash = Arrays.hashCode(bytes);
    }

    public static ChunkId of(byte[] bytes) {
        if (bytes.length != BYTES) {
            throw new IllegalArgumentException("a chunk id has " + BYTES + " bytes, not " + bytes.length);
        }
        return isZero(bytes) ? ZERO : new ChunkId(bytes.clone());
    }

    public static ChunkId of(byte[] src, int offset) {
        return of(Arrays.copyOfRange(src, offset, offset + BYTES));
    }

    /** Parses 64 lower-case hex digits; null if {@code s} is not one. */
    public static ChunkId parse(String s) {
        if (s.length() != 2 * BYTES) {
            return null;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return null;
            }
        }
        return of(HEX.parseHex(s));
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    public boolean isZero() {
        return this == ZERO;
    }

    public void copyTo(byte[] dst, int offset) {
        System.arraycopy(bytes, 0, dst, offset, BYTES);
    }

    public byte[] bytes() {
        return bytes.clone();
    }

    public String hex() {
        return HEX.formatHex(bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChunkId c && hash == c.hash && Arrays.equals(bytes, c.bytes);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public int compareTo(ChunkId o) {
        return Arrays.compareUnsigned(bytes, o.bytes);
    }

    @Override
    public String toString() {
        return hex();
    }
}
