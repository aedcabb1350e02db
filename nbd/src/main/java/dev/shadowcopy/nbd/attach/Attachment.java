package dev.shadowcopy.nbd.attach;

import java.nio.file.Path;

/**
 * An export made a local block device: {@code loopDevice} (e.g. /dev/loop3) over the file nbdfuse serves in
 * {@code fuseDir}, by the nbdfuse process {@code pid}.
 */
public record Attachment(String export, String loopDevice, Path fuseDir, long pid, boolean readOnly) {
    /** The file nbdfuse presents, which the loop device is attached to. */
    public Path fuseFile() {
        return fuseDir.resolve("disk");
    }
}
