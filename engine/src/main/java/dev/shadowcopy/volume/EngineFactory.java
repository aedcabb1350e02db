package dev.shadowcopy.volume;

import dev.shadowcopy.device.EngineFiles;
import dev.shadowcopy.device.EngineOptions;
import dev.shadowcopy.device.VolumeEngine;
import dev.shadowcopy.device.VolumeEvents;
import java.io.IOException;
import java.util.ServiceLoader;

/**
 * Opens the engine of a volume's layout: how {@link VolumeManager} reaches the providers without knowing any of them
 * ({@code dev.shadowcopy.provider.Providers} is the one that knows them all). A new layout is a constant of
 * {@link VolumeLayout} and a case in that factory (docs/engine.md, "Where a new provider goes").
 */
@FunctionalInterface
public interface EngineFactory {

    /**
     * Opens (or, when its metadata directory is empty, starts) the engine of a volume; on success the engine owns
     * {@code files.origin()}. A layout this factory does not provide is refused with {@code INVALID_ARGUMENT}.
     */
    VolumeEngine open(VolumeLayout layout, EngineFiles files, EngineOptions options, VolumeEvents events)
            throws IOException;

    /**
     * The factory the class path provides ({@code META-INF/services/dev.shadowcopy.volume.EngineFactory}; the engine
     * jar registers {@code dev.shadowcopy.provider.Providers}): what {@link VolumeManager#open(java.nio.file.Path,
     * VolumeEvents)} uses, so that callers that want every provider need not name them.
     */
    static EngineFactory installed() {
        return ServiceLoader.load(EngineFactory.class, EngineFactory.class.getClassLoader()).findFirst()
                .orElseThrow(() -> new IllegalStateException("no " + EngineFactory.class.getName() + " on the class "
                        + "path: the engine jar (which registers dev.shadowcopy.provider.Providers) is missing"));
    }
}
