package dev.shadowcopy.volume;

/** A {@link VolumeLayout#REFLINK} volume is a block device like any other. */
class ReflinkVolumeDeviceTest extends VolumeDeviceContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.REFLINK;
    }
}
