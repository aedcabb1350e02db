package dev.shadowcopy.provider;

import dev.shadowcopy.volume.VolumeLayout;

/** The reflink engine keeps every promise of {@link VolumeEngineContract}. */
class ReflinkEngineTest extends VolumeEngineContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.REFLINK;
    }
}
