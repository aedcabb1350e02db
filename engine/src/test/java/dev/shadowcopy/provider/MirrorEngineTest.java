package dev.shadowcopy.provider;

import dev.shadowcopy.volume.VolumeLayout;

/** The split-mirror engine keeps every promise of {@link VolumeEngineContract}. */
class MirrorEngineTest extends VolumeEngineContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.SPLIT_MIRROR;
    }
}
