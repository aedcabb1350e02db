package dev.shadowcopy.device;

import java.io.IOException;

/** An I/O request outside a device: negative, or past the end. Nothing was read or written. */
public final class OutOfRangeException extends IOException {
    public OutOfRangeException(String device, long offset, long length, long size) {
        super("request at offset " + offset + " length " + length + " is outside " + device
                + " (size " + size + " bytes; expected 0 <= offset and offset + length <= size)");
    }
}
