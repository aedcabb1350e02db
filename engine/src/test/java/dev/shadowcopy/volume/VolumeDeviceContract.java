package dev.shadowcopy.volume;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.provider.Providers;
import dev.shadowcopy.testing.BlockDeviceContract;
import dev.shadowcopy.testing.SimulatedStorage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A managed volume of one layout, on the simulated disk, as a block device (what NBD exports): the device contract
 * through the volume front and that layout's engine. Subclasses name the layout.
 */
abstract class VolumeDeviceContract extends BlockDeviceContract {
    protected VolumeManager manager;

    protected abstract VolumeLayout layout();

    @Override
    protected BlockDevice open() throws IOException {
        manager = VolumeManager.open(new SimulatedStorage(11), Path.of("/state/volumes"), VolumeEvents.NONE,
                VolumeManager.Tuning.inline(1 << 20), Providers.ALL);
        ManagedVolume v = manager.create(VolumeConfig.sparse("device", 1 << 20).withChunkSize(8192)
                .withLayout(layout()));
        createWaitingForResync(v); // so that writes take the layout's copy path
        return v;
    }

    /** A split mirror refuses copies until its first resynchronisation is done (retryable): wait, bounded. */
    private static void createWaitingForResync(ManagedVolume v) throws IOException {
        long end = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try {
                v.createShadowCopy(dev.shadowcopy.shadow.ShadowCopyId.random(), true);
                return;
            } catch (VolumeException e) {
                if (e.code() != VolumeException.Code.RESYNC_IN_PROGRESS || System.nanoTime() > end) {
                    throw e;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
        }
    }

    @Override
    protected void close(BlockDevice d) throws IOException {
        manager.close();
    }
}
