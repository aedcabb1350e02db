package dev.shadowcopy.overlay;

import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.nio.file.Path;

/** An overlay in its durable mode (its flush publishes the written-block map after syncing the data) too. */
class DurableOverlayDeviceTest extends OverlayDeviceTest {
    @Override
    protected BlockDevice open() throws IOException {
        disk.createDirectories(Path.of("/overlays"));
        return OverlayDevice.createDurable(base, disk, Path.of("/overlays/o.data"), Path.of("/overlays/o.map"),
                "durable overlay");
    }
}
