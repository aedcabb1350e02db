package dev.shadowcopy.service.http;

import java.io.IOException;

/** A malformed or unacceptable HTTP message; {@link #status()} is the status to answer with. */
public final class HttpException extends IOException {
    private final int status;

    public HttpException(int status, String message) {
        super(message);
        this.status = status;
    }

    public int status() {
        return status;
    }
}
