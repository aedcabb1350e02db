package dev.shadowcopy.provider;

import dev.shadowcopy.volume.VolumeLayout;

/** The redirect-on-write engine keeps every promise of {@link VolumeEngineContract}. */
class RowEngineTest extends VolumeEngineContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.REDIRECT_ON_WRITE;
    }
}
