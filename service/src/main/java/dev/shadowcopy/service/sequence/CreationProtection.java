package dev.shadowcopy.service.sequence;

import dev.shadowcopy.shadow.ShadowCopyId;
import java.time.Instant;
import java.util.Collection;

/**
 * Protection of copies that are being created: they are not in the catalog yet, but the engine may already have to
 * choose what to release for room, and a copy asked for with a protection must not be that choice.
 */
public interface CreationProtection {
    CreationProtection NONE = new CreationProtection() {
        @Override
        public void begin(Collection<ShadowCopyId> copyIds, Instant until) {}

        @Override
        public void end(Collection<ShadowCopyId> copyIds) {}
    };

    /** Before the provider makes anything: these copies are protected until {@code until}. */
    void begin(Collection<ShadowCopyId> copyIds, Instant until);

    /** After the set was recorded (the catalog carries the protection) or abandoned. */
    void end(Collection<ShadowCopyId> copyIds);
}
