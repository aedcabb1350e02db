package dev.shadowcopy.image.repository;

import dev.shadowcopy.platform.Formats;

/**
 * {@code repository.json}: written once at init (tmp + fsync + rename + directory fsync), read at every open.
 *
 * @param format           on-disk format version (1)
 * @param id               random UUID; bound into the key wrapping so a key cannot be moved between repositories
 * @param chunkSize        bytes per chunk; chunks are aligned to volume offsets (multiple of 4096, 4 KiB..16 MiB)
 * @param compressionLevel zstd level for new chunks
 * @param encryption       null for an unencrypted repository
 */
public record RepositoryConfig(int format, String id, String created, int chunkSize, String compression,
                               int compressionLevel, Encryption encryption) {
    public static final int FORMAT = Formats.REPOSITORY_FORMAT;
    public static final int MIN_CHUNK = 4 << 10;
    public static final int MAX_CHUNK = 16 << 20;

    /** Key parameters; {@code wrappedKey} is nonce ‖ AES-GCM(master key). */
    public record Encryption(String cipher, String kdf, int iterations, byte[] salt, byte[] wrappedKey) {}

    public static void checkChunkSize(long size) throws RepositoryException {
        if (size < MIN_CHUNK || size > MAX_CHUNK || size % 4096 != 0) {
            throw new RepositoryException(RepositoryException.Code.INVALID, "chunk size must be a multiple of 4 KiB "
                    + "between 4 KiB and 16 MiB, not " + size);
        }
    }
}
