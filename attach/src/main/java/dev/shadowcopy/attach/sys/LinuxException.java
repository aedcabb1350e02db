package dev.shadowcopy.attach.sys;

import java.io.IOException;

/** A system call failed; names the call, what it was applied to and the kernel's reason. */
public final class LinuxException extends IOException {
    private final int errno;

    public LinuxException(String call, String subject, int errno) {
        super(call + " on " + subject + " failed: " + Linux.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
