package dev.shadowcopy.volume;

import dev.shadowcopy.shadow.ShadowCopyInfo;

/**
 * What the engine tells its owner about things that happen without being asked: the service logs and
 * records them. Called on the thread that caused the event; implementations must be quick and not call back
 * into the volume.
 */
public interface VolumeEvents {
    VolumeEvents NONE = new VolumeEvents() {};

    /** A shadow copy was released without a delete request (shadow storage full, non-persistent at open). */
    default void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {}

    /** Something an admin should know that did not fail an operation. */
    default void warning(String volume, String message) {}
}
