package dev.shadowcopy.volume;

/** A {@link VolumeLayout#SPLIT_MIRROR} volume is a block device like any other. */
class MirrorVolumeDeviceTest extends VolumeDeviceContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.SPLIT_MIRROR;
    }
}
