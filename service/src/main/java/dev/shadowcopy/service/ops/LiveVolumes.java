package dev.shadowcopy.service.ops;

import dev.shadowcopy.device.BlockDevice;
import java.util.Optional;

/**
 * Volumes that something fills while they are in use (a live restore, {@code restore … --live}): the service serves
 * such a volume through the device given here — for attach, NBD and the take-over at start — never bare, and lists it
 * as {@code migrating}. Implemented above this package (service.backup), registered with {@link Volumes#live}.
 */
public interface LiveVolumes {
    LiveVolumes NONE = new LiveVolumes() {
        @Override
        public Optional<BlockDevice> device(String volume) {
            return Optional.empty();
        }

        @Override
        public Optional<State> state(String volume) {
            return Optional.empty();
        }
    };

    /** The device to serve for {@code volume} while it is being filled; empty when it is an ordinary volume. */
    Optional<BlockDevice> device(String volume);

    /** What fills {@code volume} and how far it got, for listings; empty when nothing does. */
    Optional<State> state(String volume);

    /**
     * @param from        what the volume is filled from ("volume V of backup B in repository R")
     * @param bytesInPlace bytes of the source already in the volume
     * @param bytes        bytes of the source
     * @param problem      why the copy does not progress, or null
     */
    record State(String from, long bytesInPlace, long bytes, String problem) {}
}
