package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.io.IOException;

/** Opens repositories for jobs, creating one on first use, and maps repository errors to API errors. */
public final class RepositoryAccess {
    private RepositoryAccess() {}

    /**
     * Opens the repository (a directory or {@code s3://BUCKET/PREFIX}), or creates it with the defaults (encrypted
     * when a passphrase is given) if the directory is missing or empty, or the bucket prefix holds none.
     */
    public static Repository openOrCreate(String location, char[] passphrase) throws IOException {
        try {
            return RepositoryLocation.parse(location).openOrCreate(passphrase);
        } catch (RepositoryException e) {
            throw translate(e);
        }
    }

    public static Repository open(String location, char[] passphrase) throws IOException {
        try {
            return RepositoryLocation.parse(location).open(passphrase);
        } catch (RepositoryException e) {
            throw translate(e);
        }
    }

    /** The API error for a repository failure. */
    public static ServiceException translate(RepositoryException e) {
        VssError err = switch (e.code()) {
            case NOT_FOUND -> VssError.OBJECT_NOT_FOUND;
            case LOCKED -> VssError.BAD_STATE;
            case EXISTS -> VssError.OBJECT_ALREADY_EXISTS;
            default -> VssError.INVALID_ARGUMENT;
        };
        return new ServiceException(err, e.getMessage());
    }
}
