package dev.shadowcopy.platform;

/**
 * The file system under a file is full (ENOSPC) or the quota is exhausted (EDQUOT). Shadow storage
 * reacts to this by releasing the oldest shadow copies instead of failing the live write. Clients see ENOSPC.
 */
public class NoSpaceException extends NativeIOException {
    public NoSpaceException(String call, String file, int errno) {
        super(call, file, errno);
    }

    /** No space for a reason of our own (a refusal explained by {@code message}); ENOSPC to clients. */
    protected NoSpaceException(String message) {
        super(message, Libc.ENOSPC);
    }
}
