package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens repositories for jobs, creating one on first use, and maps repository errors to API errors. */
public final class RepositoryAccess {
    private RepositoryAccess() {}

    /**
     * Opens the repository, or creates it with the defaults (encrypted when a passphrase is given) if the
     * directory is missing or empty.
     */
    public static Repository openOrCreate(Path dir, char[] passphrase) throws IOException {
        try {
            if (!Repository.exists(dir) && (!Files.exists(dir) || isEmptyDir(dir))) {
                return Repository.init(dir, Repository.InitOptions.defaults(passphrase));
            }
            return Repository.open(dir, passphrase);
        } catch (RepositoryException e) {
            throw translate(e);
        }
    }

    public static Repository open(Path dir, char[] passphrase) throws IOException {
        try {
            return Repository.open(dir, passphrase);
        } catch (RepositoryException e) {
            throw translate(e);
        }
    }

    private static boolean isEmptyDir(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.findAny().isEmpty();
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
