package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;

/** Merges adjacent extents with equal flags before passing them on (per-chunk maps would flood NBD clients). */
public final class ExtentCoalescer {
    private final BlockDevice.ExtentVisitor visitor;
    private long start = -1;
    private long length;
    private int flags;
    private boolean stopped;

    public ExtentCoalescer(BlockDevice.ExtentVisitor visitor) {
        this.visitor = visitor;
    }

    /** True once the visitor asked to stop. */
    public boolean stopped() {
        return stopped;
    }

    /** Adds an extent; the signature fits {@link BlockDevice.ExtentVisitor}. */
    public boolean add(long offset, long len, int f) throws IOException {
        if (stopped || len == 0) {
            return !stopped;
        }
        if (start >= 0 && f == flags && start + length == offset) {
            length += len;
            return true;
        }
        if (start >= 0 && !visitor.extent(start, length, flags)) {
            stopped = true;
            return false;
        }
        start = offset;
        length = len;
        flags = f;
        return true;
    }

    /** Passes on the last extent. */
    public void finish() throws IOException {
        if (!stopped && start >= 0) {
            visitor.extent(start, length, flags);
        }
        start = -1;
    }
}
