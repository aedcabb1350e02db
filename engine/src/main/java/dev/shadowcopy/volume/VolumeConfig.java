package dev.shadowcopy.volume;

import java.nio.file.Path;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The definition of a managed volume, validated at construction.
 *
 * @param name              1-64 characters of {@code [A-Za-z0-9._-]}, starting with a letter or digit; also
 *                          its NBD export name
 * @param size              bytes; a positive multiple of 512 (0 with an existing backing = take its size)
 * @param chunkSize         copy-on-write granularity in bytes: a power of two from 4 KiB to 16 MiB
 * @param backing           where the live data lives
 * @param shadowStorage     the maximum size of the shadow storage
 * @param shadowStorageDir  where the shadow storage file lives; null = the volume's own directory
 * @param maxShadowCopies   1..4096; VSS allows 512 per volume
 * @param layout            how copies are kept (copy-on-write by default)
 */
public record VolumeConfig(String name, long size, int chunkSize, Backing backing, ShadowStorageLimit shadowStorage,
                           Path shadowStorageDir, int maxShadowCopies, VolumeLayout layout) {
    public static final int DEFAULT_CHUNK_SIZE = 64 * 1024;
    public static final int DEFAULT_MAX_SHADOW_COPIES = 512;
    public static final int MIN_CHUNK_SIZE = 4096;
    public static final int MAX_CHUNK_SIZE = 16 << 20;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    public VolumeConfig {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(backing, "backing");
        Objects.requireNonNull(shadowStorage, "shadowStorage");
        Objects.requireNonNull(layout, "layout");
        checkName(name);
        if (size < 0 || size % 512 != 0 || (size == 0 && !(backing instanceof Backing.Existing))) {
            throw new IllegalArgumentException("volume size must be a positive multiple of 512 bytes, was " + size);
        }
        if (Integer.bitCount(chunkSize) != 1 || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
            throw new IllegalArgumentException("chunk size must be a power of two from 4 KiB to 16 MiB, was "
                    + chunkSize);
        }
        if (maxShadowCopies < 1 || maxShadowCopies > 4096) {
            throw new IllegalArgumentException("maximum shadow copies must be 1..4096, was " + maxShadowCopies);
        }
        if (shadowStorageDir != null && !shadowStorageDir.isAbsolute()) {
            throw new IllegalArgumentException("shadow storage directory must be absolute, was " + shadowStorageDir);
        }
    }

    /** A copy-on-write volume (the layout every earlier version had). */
    public VolumeConfig(String name, long size, int chunkSize, Backing backing, ShadowStorageLimit shadowStorage,
                        Path shadowStorageDir, int maxShadowCopies) {
        this(name, size, chunkSize, backing, shadowStorage, shadowStorageDir, maxShadowCopies,
                VolumeLayout.COPY_ON_WRITE);
    }

    /** A volume on a new sparse file with the defaults: 64 KiB chunks, unbounded shadow storage. */
    public static VolumeConfig sparse(String name, long size) {
        return new VolumeConfig(name, size, DEFAULT_CHUNK_SIZE, Backing.sparse(), ShadowStorageLimit.unbounded(),
                null, DEFAULT_MAX_SHADOW_COPIES);
    }

    /** A volume on an existing file or block device, taking its size. */
    public static VolumeConfig existing(String name, Path backing) {
        return new VolumeConfig(name, 0, DEFAULT_CHUNK_SIZE, Backing.existing(backing),
                ShadowStorageLimit.unbounded(), null, DEFAULT_MAX_SHADOW_COPIES);
    }

    public VolumeConfig withSize(long newSize) {
        return new VolumeConfig(name, newSize, chunkSize, backing, shadowStorage, shadowStorageDir, maxShadowCopies,
                layout);
    }

    public VolumeConfig withChunkSize(int newChunkSize) {
        return new VolumeConfig(name, size, newChunkSize, backing, shadowStorage, shadowStorageDir, maxShadowCopies,
                layout);
    }

    public VolumeConfig withShadowStorage(ShadowStorageLimit limit) {
        return new VolumeConfig(name, size, chunkSize, backing, limit, shadowStorageDir, maxShadowCopies, layout);
    }

    public VolumeConfig withShadowStorageDir(Path dir) {
        return new VolumeConfig(name, size, chunkSize, backing, shadowStorage, dir, maxShadowCopies, layout);
    }

    public VolumeConfig withMaxShadowCopies(int max) {
        return new VolumeConfig(name, size, chunkSize, backing, shadowStorage, shadowStorageDir, max, layout);
    }

    public VolumeConfig withLayout(VolumeLayout newLayout) {
        return new VolumeConfig(name, size, chunkSize, backing, shadowStorage, shadowStorageDir, maxShadowCopies,
                newLayout);
    }

    /** Throws unless {@code name} is a valid volume name. */
    public static void checkName(String name) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("bad volume name '" + name + "' (expected 1-64 characters of "
                    + "A-Z a-z 0-9 . _ -, starting with a letter or digit)");
        }
    }
}
