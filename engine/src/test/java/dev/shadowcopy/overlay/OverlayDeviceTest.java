package dev.shadowcopy.overlay;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.testing.BlockDeviceContract;
import dev.shadowcopy.testing.MemoryDevice;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import java.io.IOException;
import java.nio.file.Path;

/** A throw-away overlay over a read-only device is a writable device; the base is never written. */
class OverlayDeviceTest extends BlockDeviceContract {
    protected final SimulatedStorage disk = new SimulatedStorage(13);
    protected final MemoryDevice base = new MemoryDevice(Segments.random(512 << 10, 8), true);

    @Override
    protected BlockDevice open() throws IOException {
        disk.createDirectories(Path.of("/overlays"));
        return OverlayDevice.create(base, disk, Path.of("/overlays/o.data"), "overlay");
    }
}
