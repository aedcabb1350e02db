package dev.shadowcopy.writer;

import java.time.Duration;

/**
 * A writer: an application that takes part in making shadow copies consistent (VSS's writer SPI). The
 * service calls it on a thread of its own and stops waiting at the event's deadline; an implementation
 * that blocks past it is abandoned (its failure is {@link WriterFailure#TIMEOUT}) and should react to
 * interruption. Implementations: {@link HookWriter} (executables), {@link ExternalWriter} (processes on the
 * API), and Java writers in the service's process (e.g. the database writers).
 *
 * <p>Abort must be idempotent: it can arrive after any event, and more than once.
 */
public interface Writer {
    /** Unique among the service's writers; what errors and {@code list writers} name. */
    String name();

    /** What kind of writer this is: {@code hook}, {@code external}, {@code builtin}. */
    String kind();

    /** VSS's OnIdentify: the writer's metadata. Must not keep state: anyone can trigger it. */
    WriterMetadata identify(Duration timeout) throws WriterException, InterruptedException;

    /** Handles one event of a backup. Returns normally for success. */
    void handle(WriterEvent event, EventContext context) throws WriterException, InterruptedException;

    /**
     * True if the writer wants auto-recovery: during PostSnapshot the set's copies are writable (on an overlay,
     * never the live volume) and mounted where {@link EventContext#recoveryMounts} says; afterwards they are
     * sealed read-only with the changes.
     */
    default boolean autoRecovery() {
        return false;
    }

    /** False once the writer is gone (its process ended); gone writers are not called any more. */
    default boolean alive() {
        return true;
    }
}
