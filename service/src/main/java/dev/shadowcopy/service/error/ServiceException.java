package dev.shadowcopy.service.error;

import dev.shadowcopy.service.error.VssError;
import java.io.IOException;

/**
 * A request the service refused or could not do, with its VSS error, and for writer failures the writer's
 * name. The message says what, where and what to do; it is what the CLI prints.
 */
public class ServiceException extends IOException {
    private final VssError error;
    private final String writer;

    public ServiceException(VssError error, String message) {
        this(error, message, null, null);
    }

    public ServiceException(VssError error, String message, String writer, Throwable cause) {
        super(message, cause);
        this.error = error;
        this.writer = writer;
    }

    public VssError error() {
        return error;
    }

    /** The writer that caused the failure, or null. */
    public String writer() {
        return writer;
    }

    public boolean retryable() {
        return error.retryable();
    }
}
