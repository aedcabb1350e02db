package dev.shadowcopy.image.repository;

import java.io.IOException;

/** A repository operation that failed for a reason the user can act on; {@link #code()} says which. */
public final class RepositoryException extends IOException {
    public enum Code {
        /** The directory is not a repository (or of an unknown format version). */
        NOT_A_REPOSITORY,
        /** The repository is encrypted and no passphrase was given. */
        PASSPHRASE_REQUIRED,
        /** The passphrase does not open the repository's key. */
        WRONG_PASSPHRASE,
        /** Stored data failed its checksum, authentication or hash, or does not parse. */
        CORRUPT,
        /** A backup, volume or chunk that is not there. */
        NOT_FOUND,
        /** Another process holds the repository lock in a conflicting mode. */
        LOCKED,
        /** Something already exists where a new one was to be made. */
        EXISTS,
        /** A request that cannot be satisfied as asked (bad option, size mismatch ...). */
        INVALID
    }

    private final Code code;

    public RepositoryException(Code code, String message) {
        super(message);
        this.code = code;
    }

    public RepositoryException(Code code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public Code code() {
        return code;
    }
}
