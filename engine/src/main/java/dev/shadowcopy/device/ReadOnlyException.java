package dev.shadowcopy.device;

import java.io.IOException;

/** A write, trim or zero request on a read-only device (a shadow copy). Nothing was changed. */
public final class ReadOnlyException extends IOException {
    public ReadOnlyException(String device) {
        super(device + " is read-only: shadow copies cannot be written (revert the volume to one instead)");
    }
}
