package dev.shadowcopy.platform;

/**
 * The file system under a file is full (ENOSPC) or the quota is exhausted (EDQUOT). Shadow storage
 * reacts to this by releasing the oldest shadow copies instead of failing the live write.
 */
public final class NoSpaceException extends NativeIOException {
    public NoSpaceException(String call, String file, int errno) {
        super(call, file, errno);
    }
}
