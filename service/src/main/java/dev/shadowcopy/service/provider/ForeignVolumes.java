package dev.shadowcopy.service.provider;

import dev.shadowcopy.shadow.ShadowCopyId;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Volumes a kernel facility snapshots (btrfs subvolumes), next to the managed volumes of the software providers.
 * Their copies are made inside the same commit window as the managed volumes' (writers frozen, managed writes
 * held), are recorded in the same catalog, and are deleted and exposed through the same commands; what such a
 * volume cannot do (NBD export, image backup, revert) is refused with a plain reason.
 */
public interface ForeignVolumes {
    ForeignVolumes NONE = new ForeignVolumes() {
        @Override
        public Foreign find(String name) {
            return null;
        }

        @Override
        public List<Foreign> list() {
            return List.of();
        }
    };

    /** The volume of that name, or null. */
    Foreign find(String name);

    List<Foreign> list();

    /** One such volume. */
    interface Foreign {
        String name();

        String provider();

        /** What it is, for listings ("btrfs subvolume /srv/data"). */
        String description();

        /** Makes copy {@code id}; called in the commit window, so it must be quick. Durable on return. */
        void snapshot(ShadowCopyId id) throws IOException;

        void delete(ShadowCopyId id) throws IOException;

        boolean exists(ShadowCopyId id);

        /** Where the copy's files can be read (for expose). */
        Path path(ShadowCopyId id);

        /** True if {@code file} lives on this volume (places writer metadata paths on volumes). */
        default boolean holds(Path file) {
            return false;
        }
    }
}
