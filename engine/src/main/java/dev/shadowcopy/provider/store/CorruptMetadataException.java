package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.VolumeException;

/**
 * A metadata file failed its checks (bad magic, checksum, version, or an impossible state) in a place
 * that a crash cannot explain. The volume is not opened; nothing is guessed or repaired silently.
 */
public final class CorruptMetadataException extends VolumeException {
    public CorruptMetadataException(String message) {
        super(Code.CORRUPT, message);
    }
}
