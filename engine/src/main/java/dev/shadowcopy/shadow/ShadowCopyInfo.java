package dev.shadowcopy.shadow;

import java.time.Instant;
import java.util.Objects;

/**
 * What the engine knows of one shadow copy. Richer properties (set, context, attributes, writers) belong
 * to the service's catalog; this is the part that lives and dies with the preserved data.
 *
 * @param id         the shadow copy's identity
 * @param volume     name of the volume it is a copy of
 * @param sequence   the volume's epoch at the instant: copies of one volume are ordered by it (oldest lowest)
 * @param created    the instant
 * @param persistent survives a restart of the engine; non-persistent copies are released at open
 * @param size       size of the volume at the instant, in bytes
 */
public record ShadowCopyInfo(ShadowCopyId id, String volume, int sequence, Instant created, boolean persistent,
                             long size) {
    public ShadowCopyInfo {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(volume, "volume");
        Objects.requireNonNull(created, "created");
        if (sequence < 0) {
            throw new IllegalArgumentException("sequence must be >= 0, was " + sequence);
        }
        if (size <= 0) {
            throw new IllegalArgumentException("size must be > 0, was " + size);
        }
    }
}
