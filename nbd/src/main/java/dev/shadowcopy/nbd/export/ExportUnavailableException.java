package dev.shadowcopy.nbd.export;

import java.io.IOException;

/**
 * An export exists but may not be opened now (an incomplete volume); the message says why and what to do. The server
 * answers the option with an error carrying the message instead of dropping the connection.
 */
public final class ExportUnavailableException extends IOException {
    public ExportUnavailableException(String message) {
        super(message);
    }
}
