package dev.shadowcopy.volume;

import dev.shadowcopy.device.VolumeEngine;

/** Test access to a volume's engine. */
public final class EngineAccess {
    private EngineAccess() {}

    public static VolumeEngine engine(ManagedVolume v) {
        return v.engine();
    }
}
