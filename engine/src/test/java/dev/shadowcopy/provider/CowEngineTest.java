package dev.shadowcopy.provider;

import dev.shadowcopy.volume.VolumeLayout;

/** The copy-on-write engine keeps every promise of {@link VolumeEngineContract}. */
class CowEngineTest extends VolumeEngineContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.COPY_ON_WRITE;
    }
}
