package dev.shadowcopy.volume;

/** A {@link VolumeLayout#COPY_ON_WRITE} volume is a block device like any other. */
class CowVolumeDeviceTest extends VolumeDeviceContract {
    @Override
    protected VolumeLayout layout() {
        return VolumeLayout.COPY_ON_WRITE;
    }
}
