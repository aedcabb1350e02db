package dev.shadowcopy.testing;

import dev.shadowcopy.platform.Storage;
import java.nio.file.Path;

/** The simulated disk keeps the same promises as the real one, and simulates what a power loss forgets. */
class SimulatedStorageContractTest extends StorageContract {
    private SimulatedStorage disk;

    @Override
    protected Storage newStorage() {
        disk = new SimulatedStorage(42);
        disk.createDirectories(Path.of("/work"));
        return disk;
    }

    @Override
    protected Path workDirectory() {
        return Path.of("/work");
    }

    @Override
    protected boolean canClone() {
        return true;
    }

    @Override
    protected boolean canCrash() {
        return true;
    }

    @Override
    protected void crash() {
        disk.crash();
    }
}
