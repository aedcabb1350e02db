package dev.shadowcopy.platform;

import java.io.IOException;

/** A system call failed; carries the kernel's errno and names the call and the file. */
public class NativeIOException extends IOException {
    private final int errno;

    public NativeIOException(String call, String file, int errno) {
        super(call + " on " + file + " failed: " + Libc.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    /** A refusal with the errno a system call would have given, explained by {@code message}. */
    protected NativeIOException(String message, int errno) {
        super(message);
        this.errno = errno;
    }

    /** The errno the call failed with. */
    public int errno() {
        return errno;
    }

    static NativeIOException of(String call, String file, int errno) {
        return errno == Libc.ENOSPC || errno == Libc.EDQUOT
                ? new NoSpaceException(call, file, errno)
                : new NativeIOException(call, file, errno);
    }
}
