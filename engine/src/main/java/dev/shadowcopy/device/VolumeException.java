package dev.shadowcopy.device;

import java.io.IOException;

/**
 * An engine operation was refused or failed for a reason an admin can act on. {@link #code()} names the
 * reason in VSS terms so that the service can report the matching VSS error.
 */
public class VolumeException extends IOException {

    /** Why an operation failed, named after the VSS error it corresponds to. */
    public enum Code {
        OBJECT_NOT_FOUND,
        OBJECT_ALREADY_EXISTS,
        BAD_STATE,
        MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED,
        HOLD_WRITES_TIMEOUT,
        INSUFFICIENT_STORAGE,
        VOLUME_IN_USE,
        INVALID_ARGUMENT,
        CORRUPT,
        FAILED,
        /** A split-mirror volume's mirror is not in step yet; retry when its resync is done. */
        RESYNC_IN_PROGRESS
    }

    private final Code code;

    public VolumeException(Code code, String message) {
        super(message);
        this.code = code;
    }

    public VolumeException(Code code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public Code code() {
        return code;
    }
}
