package dev.shadowcopy.volume;

import java.util.Locale;

/**
 * The maximum size of a volume's shadow storage (diff area): a byte count, a percentage of the volume, or
 * unbounded — the three forms {@code vssadmin resize shadowstorage /maxsize} accepts.
 *
 * @param bytes   the byte limit when {@code percent} is 0; {@code -1} means unbounded
 * @param percent 1..100 when the limit is relative to the volume size, else 0
 */
public record ShadowStorageLimit(long bytes, int percent) {
    /** VSS refuses a diff-area maximum below 1 MB on resize; so do we. */
    public static final long MINIMUM_BYTES = 1L << 20;

    public ShadowStorageLimit {
        if (percent < 0 || percent > 100) {
            throw new IllegalArgumentException("shadow storage percentage must be 1..100, was " + percent);
        }
        if (percent == 0 && bytes != -1 && bytes < MINIMUM_BYTES) {
            throw new IllegalArgumentException("shadow storage maximum must be at least 1 MiB (or a percentage, "
                    + "or unbounded), was " + bytes + " bytes");
        }
    }

    public static ShadowStorageLimit unbounded() {
        return new ShadowStorageLimit(-1, 0);
    }

    public static ShadowStorageLimit ofBytes(long bytes) {
        return new ShadowStorageLimit(bytes, 0);
    }

    public static ShadowStorageLimit ofPercent(int percent) {
        if (percent == 0) {
            throw new IllegalArgumentException("shadow storage percentage must be 1..100, was 0");
        }
        return new ShadowStorageLimit(0, percent);
    }

    public boolean isUnbounded() {
        return percent == 0 && bytes == -1;
    }

    /** The limit in bytes for a volume of {@code volumeSize} bytes ({@code Long.MAX_VALUE} if unbounded). */
    public long resolve(long volumeSize) {
        if (isUnbounded()) {
            return Long.MAX_VALUE;
        }
        if (percent > 0) {
            return Math.max(MINIMUM_BYTES, volumeSize / 100 * percent + volumeSize % 100 * percent / 100);
        }
        return bytes;
    }

    /**
     * Parses {@code unbounded}, {@code 20%}, {@code 1048576}, {@code 300MB}, {@code 10G}, {@code 1.5TiB}
     * (units B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P/PB/PiB, E/EB/EiB; all binary, as vssadmin's are).
     */
    public static ShadowStorageLimit parse(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        if (t.equals("unbounded") || t.equals("-1")) {
            return unbounded();
        }
        if (t.endsWith("%")) {
            try {
                return ofPercent(Integer.parseInt(t.substring(0, t.length() - 1).strip()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad shadow storage percentage '" + text + "' (expected e.g. 20%)");
            }
        }
        return ofBytes(Sizes.parse(text));
    }

    @Override
    public String toString() {
        if (isUnbounded()) {
            return "UNBOUNDED";
        }
        return percent > 0 ? percent + "%" : Sizes.format(bytes);
    }
}
