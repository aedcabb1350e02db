package dev.shadowcopy.device;

import dev.shadowcopy.platform.NoSpaceException;
import java.util.List;

/**
 * A live write was refused: it needs shadow storage for copies the engine may not release (protected copies, see
 * {@link VolumeEvents#mayRelease}), and shadow storage is at its maximum (or its file system is full) with no
 * other copy left to release. Nothing of the write was applied. Clients see ENOSPC.
 */
public final class ShadowStorageFullException extends NoSpaceException {
    private final List<String> keptCopies;

    public ShadowStorageFullException(String message, List<String> keptCopies) {
        super(message);
        this.keptCopies = List.copyOf(keptCopies);
    }

    /** The ids of the copies that are kept (their preserved data is why the write cannot proceed). */
    public List<String> keptCopies() {
        return keptCopies;
    }
}
