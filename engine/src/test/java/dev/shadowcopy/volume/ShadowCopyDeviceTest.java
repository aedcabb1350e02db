package dev.shadowcopy.volume;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.provider.Providers;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.testing.BlockDeviceContract;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.testing.SimulatedStorage;
import java.io.IOException;
import java.nio.file.Path;

/** A shadow copy as a device: read-only, and exactly the volume at its instant while the volume is rewritten. */
class ShadowCopyDeviceTest extends BlockDeviceContract {
    private VolumeManager manager;
    private final byte[] atInstant = Segments.random(1 << 20, 5);

    @Override
    protected BlockDevice open() throws IOException {
        manager = VolumeManager.open(new SimulatedStorage(12), Path.of("/state/volumes"), VolumeEvents.NONE,
                VolumeManager.Tuning.inline(1 << 20), Providers.ALL);
        ManagedVolume v = manager.create(VolumeConfig.sparse("device", 1 << 20).withChunkSize(8192));
        v.write(0, Segments.of(atInstant), false);
        ShadowCopyId id = v.createShadowCopy(ShadowCopyId.random(), true).id();
        v.write(4096, Segments.of(Segments.random(300_000, 6)), false);
        return v.shadowCopy(id);
    }

    @Override
    protected byte[] expectedContent() {
        return atInstant;
    }

    @Override
    protected void close(BlockDevice d) throws IOException {
        manager.close();
    }
}
