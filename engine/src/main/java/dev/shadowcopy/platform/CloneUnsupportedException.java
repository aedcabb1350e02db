package dev.shadowcopy.platform;

/**
 * {@link Storage#clone} was refused because the file system cannot share extents between the two files (no
 * reflink support, or they are on different file systems): EOPNOTSUPP, EXDEV or EINVAL from FICLONE. Nothing was
 * changed; a caller that can copy instead may do so, one that needs an instant copy reports the file system.
 */
public class CloneUnsupportedException extends NativeIOException {
    public CloneUnsupportedException(String call, String file, int errno) {
        super(call, file, errno);
    }
}
