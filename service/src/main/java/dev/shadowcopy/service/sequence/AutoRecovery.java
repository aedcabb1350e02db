package dev.shadowcopy.service.sequence;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.attach.Mounts;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * VSS's auto-recovery: after the commit, the copies of a set are briefly writable so that writers can bring
 * them to a state that starts cleanly, then they are read-only for good. The live volume is never touched: each
 * copy gets an {@link OverlayDevice} that takes the writes, attached as a local block device; a file system on
 * it is mounted read-write (an ext4 journal or XFS log left in the copy is replayed into the overlay right
 * there), the writers change what they need during PostSnapshot, then everything is unmounted and the overlay
 * sealed into the copy (durable before the set is reported created). Any failure discards the overlays and
 * fails the set with {@code VSS_E_AUTORECOVERY_FAILED}.
 */
public final class AutoRecovery {
    private static final String PREFIX = "recovery/";

    private final Attacher attacher;
    private final FileSystemFreezer mounts;
    private final Path mountRoot;

    public AutoRecovery(Attacher attacher, FileSystemFreezer mounts, Path stateDir) throws IOException {
        this.attacher = attacher;
        this.mounts = mounts;
        this.mountRoot = Files.createDirectories(stateDir.resolve("recovery"));
    }

    /** The copies of a set open for recovery. */
    public static final class Open {
        final List<Item> items = new ArrayList<>();

        /** Original mount point of a volume's file system → where its copy is mounted writable now. */
        public Map<String, String> mounts() {
            Map<String, String> m = new LinkedHashMap<>();
            for (Item i : items) {
                if (i.mount != null && i.original != null) {
                    m.put(i.original.toString(), i.mount.toString());
                }
            }
            return m;
        }
    }

    private static final class Item {
        ManagedVolume volume;
        ShadowCopyInfo copy;
        OverlayDevice overlay;
        String key;
        Attachment attachment;
        Path mount;
        Path original;
    }

    public Open open(Map<ManagedVolume, ShadowCopyInfo> copies) throws IOException {
        Open o = new Open();
        try {
            for (var e : copies.entrySet()) {
                Item i = new Item();
                o.items.add(i);
                i.volume = e.getKey();
                i.copy = e.getValue();
                List<Path> orig = mounts.mountsOf(List.of(i.volume.name()));
                i.original = orig.isEmpty() ? null : orig.getFirst();
                i.overlay = i.volume.beginRecovery(i.copy.id());
                if (i.original == null) {
                    continue; // no mounted file system on the volume: writers have nothing to change by path
                }
                i.key = PREFIX + i.copy.id();
                i.attachment = attacher.attach(i.key, i.overlay, false);
                i.mount = Files.createDirectories(mountRoot.resolve(i.copy.id().toString()));
                Mounts.mount(i.attachment.loopDevice(), i.mount, "");
            }
            return o;
        } catch (IOException | RuntimeException e) {
            abort(o);
            throw e;
        }
    }

    /** Unmounts and seals every overlay into its copy. */
    public void seal(Open o) throws IOException {
        for (Item i : o.items) {
            close(i);
        }
        for (Item i : o.items) {
            i.volume.sealRecovery(i.copy.id(), i.overlay);
        }
    }

    /** Best effort: unmounts, detaches and discards every overlay. */
    public void abort(Open o) {
        for (Item i : o.items) {
            try {
                close(i);
            } catch (IOException | RuntimeException e) {
                System.getLogger(AutoRecovery.class.getName()).log(System.Logger.Level.WARNING,
                        "auto-recovery cleanup of {0}: {1}", i.copy.id(), e.getMessage());
            }
            try {
                if (i.overlay != null && !i.overlay.sealed()) {
                    i.volume.abortRecovery(i.overlay);
                }
            } catch (IOException e) {
                System.getLogger(AutoRecovery.class.getName()).log(System.Logger.Level.WARNING,
                        "discarding the auto-recovery layer of {0}: {1}", i.copy.id(), e.getMessage());
            }
        }
    }

    private void close(Item i) throws IOException {
        if (i.mount != null) {
            Mounts.unmount(i.mount, false, "cannot end the auto-recovery of shadow copy " + i.copy.id());
            Files.deleteIfExists(i.mount);
            i.mount = null;
        }
        if (i.attachment != null) {
            attacher.detach(i.key, false);
            i.attachment = null;
        }
    }
}
