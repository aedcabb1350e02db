package dev.shadowcopy.service.versions;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

/**
 * What previous versions need from the service: where a path lives, the copies of a volume, and the
 * service's own exposure (a read-only mount through a durable overlay, recorded in the catalog, taken over at
 * start). The daemon's wiring implements it.
 */
public interface VersionsHost {

    /**
     * A path on a volume the service copies.
     *
     * @param volume     the volume's name
     * @param mountPoint where the volume's file system is mounted (the share's root for Samba)
     * @param relative   the path inside the volume's file system ("" for its root)
     */
    record Located(String volume, Path mountPoint, String relative) {}

    /**
     * A shadow copy of a volume.
     *
     * @param exposedPath where it is exposed now, or null
     * @param tree        for a btrfs snapshot, its file tree (no mount needed); else null
     */
    record Copy(String id, String volume, Instant created, Path exposedPath, Path tree) {}

    /** The volume {@code path} (absolute, canonical as far as it exists) is on; refused if none. */
    Located locate(Path path) throws IOException;

    /** Where the file system of {@code volume} is mounted, or null if it is not. */
    Path mountPoint(String volume) throws IOException;

    /** The copies of {@code volume}, oldest first. */
    List<Copy> copies(String volume) throws IOException;

    /** One copy by id (whole or unique prefix); refused with a clear error if there is none. */
    Copy copy(String id) throws IOException;

    /** Exposes the copy read-only on {@code mountPoint} (a durable exposure: state, like expose). */
    void expose(String id, Path mountPoint) throws IOException;

    /** Takes the exposure away; refused while the mount is in use. */
    void unexpose(String id) throws IOException;

    /** Appends an event to the service's log. */
    void event(String type, String level, String message, java.util.Map<String, Object> details);
}
