package dev.shadowcopy.attach;

import java.nio.file.Path;
import java.time.Instant;

/**
 * A block device made local: {@code loopDevice} (e.g. /dev/loop3) over the file {@code dir/disk}, which our
 * FUSE server presents. {@code key} names what is attached ({@code volume/NAME}, {@code expose/ID},
 * {@code recovery/ID}); {@code path} says which data path carries it ({@code fuse}; see docs/service.md).
 */
public record Attachment(String key, String loopDevice, Path dir, boolean readOnly, String path, Instant since) {
    public Attachment {
        if (key == null || key.isBlank() || loopDevice == null || dir == null || path == null || since == null) {
            throw new IllegalArgumentException("incomplete attachment: " + key + " " + loopDevice + " " + dir);
        }
    }

    /** The file the loop device is attached to. */
    public Path file() {
        return dir.resolve("disk");
    }
}
