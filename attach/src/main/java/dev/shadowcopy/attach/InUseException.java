package dev.shadowcopy.attach;

import java.io.IOException;
import java.util.List;

/** A device cannot be taken away: something uses it. The message names every use and the way out. */
public final class InUseException extends IOException {
    private final String device;
    private final List<String> uses;
    private final String remedy;

    public InUseException(String what, String device, List<String> uses, String remedy) {
        super(what + ": " + device + " is in use (" + String.join("; ", uses) + "). " + remedy);
        this.device = device;
        this.uses = List.copyOf(uses);
        this.remedy = remedy;
    }

    /** The device or mount point in use. */
    public String device() {
        return device;
    }

    /** What uses it, one entry per user ("mounted on /mnt/data (ext4)", "open by pid 42 (fio)"). */
    public List<String> uses() {
        return uses;
    }

    public String remedy() {
        return remedy;
    }
}
