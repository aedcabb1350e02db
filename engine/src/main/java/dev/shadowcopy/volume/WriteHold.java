package dev.shadowcopy.volume;

/** Proof that a volume's I/O is held; closing it lets I/O flow again. Must be closed by the thread that took it. */
public final class WriteHold implements AutoCloseable {
    private final ManagedVolume volume;
    private boolean released;

    WriteHold(ManagedVolume volume) {
        this.volume = volume;
    }

    public ManagedVolume volume() {
        return volume;
    }

    @Override
    public void close() {
        if (!released) {
            released = true;
            volume.releaseHold();
        }
    }
}
