package dev.shadowcopy.testing;

import dev.shadowcopy.platform.Storage;

/** The simulated disk refusing clones, as a file system without reflink support does. */
class SimulatedStorageWithoutClonesTest extends SimulatedStorageContractTest {
    @Override
    protected Storage newStorage() {
        SimulatedStorage d = (SimulatedStorage) super.newStorage();
        d.refuseClones();
        return d;
    }

    @Override
    protected boolean canClone() {
        return false;
    }
}
