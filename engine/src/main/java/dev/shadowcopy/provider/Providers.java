package dev.shadowcopy.provider;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.provider.cow.CowRecovery;
import dev.shadowcopy.provider.mirror.MirrorEngine;
import dev.shadowcopy.provider.reflink.ReflinkEngine;
import dev.shadowcopy.provider.row.RowRecovery;
import dev.shadowcopy.volume.EngineFactory;
import dev.shadowcopy.volume.VolumeLayout;
import java.io.IOException;

/**
 * Every provider of this build, by layout: the one class that knows them all, so that {@code volume} knows none.
 * Registered as the installed {@link EngineFactory} ({@code META-INF/services}); pass {@link #ALL} to
 * {@code VolumeManager.open} to name it explicitly.
 */
public final class Providers implements EngineFactory {
    public static final Providers ALL = new Providers();

    /** For {@link java.util.ServiceLoader}; use {@link #ALL}. */
    public Providers() {}

    @Override
    public VolumeEngine open(VolumeLayout layout, EngineFiles files, EngineOptions options, VolumeEvents events)
            throws IOException {
        return switch (layout) {
            case COPY_ON_WRITE -> CowRecovery.open(files, options, events);
            case REDIRECT_ON_WRITE -> RowRecovery.open(files, options, events);
            case SPLIT_MIRROR -> MirrorEngine.open(files, options, events);
            case REFLINK -> ReflinkEngine.open(files, options, events);
        };
    }
}
