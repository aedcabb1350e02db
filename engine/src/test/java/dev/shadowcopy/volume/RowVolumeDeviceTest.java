package dev.shadowcopy.volume;

/** A {@link VolumeLayout#REDIRECT_ON_WRITE} volume is a block device like any other. */
class RowVolumeDeviceTest extends VolumeDeviceContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.REDIRECT_ON_WRITE;
    }
}
