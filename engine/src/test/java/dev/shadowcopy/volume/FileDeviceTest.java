package dev.shadowcopy.volume;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.testing.BlockDeviceContract;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** A sparse file seen as a block device (what restores write to) keeps the device contract. */
class FileDeviceTest extends BlockDeviceContract {
    @TempDir
    Path tmp;

    @Override
    protected BlockDevice open() throws IOException {
        return FileDevice.create(tmp.resolve("device.img"), 1 << 20);
    }
}
