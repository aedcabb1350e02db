package dev.shadowcopy.service.client;

import java.io.IOException;

/** An error answer of the service: the VSS code, its number, the message, whether to retry, the writer. */
public class ApiException extends IOException {
    private final int status;
    private final String code;
    private final String hresult;
    private final boolean retryable;
    private final String writer;

    public ApiException(int status, String code, String hresult, String message, boolean retryable, String writer) {
        super(message);
        this.status = status;
        this.code = code;
        this.hresult = hresult;
        this.retryable = retryable;
        this.writer = writer;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    public String hresult() {
        return hresult;
    }

    public boolean retryable() {
        return retryable;
    }

    public String writer() {
        return writer;
    }
}
