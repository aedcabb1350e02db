package dev.shadowcopy.testing;

import dev.shadowcopy.device.BlockDevice;

/** The byte-array device other tests use as a disk keeps the device contract itself. */
class MemoryDeviceTest extends BlockDeviceContract {
    @Override
    protected BlockDevice open() {
        return new MemoryDevice(new byte[512 << 10], false);
    }
}
