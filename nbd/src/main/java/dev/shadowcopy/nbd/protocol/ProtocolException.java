package dev.shadowcopy.nbd.protocol;

import java.io.IOException;

/**
 * The peer broke the protocol in a way that leaves no safe way to continue (bad magic, impossible length):
 * the connection is dropped, the server goes on.
 */
public final class ProtocolException extends IOException {
    public ProtocolException(String message) {
        super(message);
    }
}
