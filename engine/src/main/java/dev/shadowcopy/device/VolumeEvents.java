package dev.shadowcopy.device;

import dev.shadowcopy.shadow.ShadowCopyInfo;

/**
 * What the engine tells its owner about things that happen without being asked, and the one thing it asks before
 * deciding on its own (whether a copy may be released). The service logs and records them.
 *
 * <p>Called on the thread that caused the event, possibly with engine locks held: implementations must be quick,
 * must not call back into the volume, and may only take locks that are never held while calling the volume (the
 * service's catalog and event log qualify).
 */
public interface VolumeEvents {
    VolumeEvents NONE = new VolumeEvents() {};

    /**
     * Whether the engine may release {@code copy} on its own to make room (shadow storage full, maximum lowered).
     * False keeps it whatever it costs: a protected copy. Asked at every such decision, so the answer may change.
     */
    default boolean mayRelease(String volume, ShadowCopyInfo copy) {
        return true;
    }

    /**
     * The engine decided to release {@code copy} and is about to make that durable: the owner records the intent
     * durably so that a crash before {@link #shadowCopyReleased} still ends with the copy gone.
     */
    default void shadowCopyReleasing(String volume, ShadowCopyInfo copy, String reason) {}

    /** A shadow copy was released without a delete request (shadow storage full, non-persistent at open). */
    default void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {}

    /**
     * A live write was refused with {@link ShadowStorageFullException}: it needed shadow storage that only copies
     * the engine may not release could give. Called once per refused request (the owner rate-limits its reports).
     */
    default void writeRefused(String volume, ShadowStorageFullException refusal) {}

    /** Something an admin should know that did not fail an operation. */
    default void warning(String volume, String message) {}
}
