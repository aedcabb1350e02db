package dev.shadowcopy.attach;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * diskshadow's {@code expose}: a shadow copy's file system mounted read-only on a directory.
 *
 * <p>A copy of a volume whose file system was mounted when the copy was taken has a dirty journal (ext4) or
 * log (XFS); mounting it means replaying that journal, which writes. The copy itself is read-only and must
 * stay exact, so it is attached through a durable {@link OverlayDevice}: the replay lands in the overlay, the
 * mount is read-only on top of that, and unexpose discards the overlay. ({@code -o ro,noload} would also
 * mount it, but would show the file system without the transactions in its journal.)
 *
 * <p>An exposure is state: the overlay is flushed once the mount has replayed its journal, so that when the
 * service restarts under the mounted file system the overlay reopens with the same blocks
 * ({@link #reopen}); after a reboot the exposure is made again ({@link #restore}).
 */
public final class Exposer {
    public static final String PREFIX = "expose/";

    private final Path overlays;
    private final Attacher attacher;
    private final Map<ShadowCopyId, Exposure> exposed = new ConcurrentHashMap<>();
    private final Map<ShadowCopyId, OverlayDevice> overlaysById = new ConcurrentHashMap<>();

    /** One exposed copy. */
    public record Exposure(ShadowCopyId copy, Path mountPoint, Attachment attachment) {}

    public Exposer(Path stateDir, Attacher attacher) throws IOException {
        this.overlays = Files.createDirectories(stateDir.resolve("overlays"));
        this.attacher = attacher;
    }

    public static String key(ShadowCopyId copy) {
        return PREFIX + copy;
    }

    private Path data(ShadowCopyId id) {
        return overlays.resolve(id + ".img");
    }

    private Path map(ShadowCopyId id) {
        return overlays.resolve(id + ".map");
    }

    /**
     * For the attacher's start: the device behind {@code expose/ID} — the overlay as of its last flush if its
     * files are there, else a new empty one.
     */
    public BlockDevice reopen(ShadowCopyId id, BlockDevice copy) throws IOException {
        OverlayDevice o;
        if (Files.exists(map(id)) && Files.exists(data(id))) {
            o = OverlayDevice.openDurable(copy, LocalStorage.INSTANCE, data(id), map(id), overlayName(id));
        } else {
            Files.deleteIfExists(data(id));
            o = OverlayDevice.createDurable(copy, LocalStorage.INSTANCE, data(id), map(id), overlayName(id));
        }
        overlaysById.put(id, o);
        return o;
    }

    /**
     * After the attacher's start: the recorded exposure of {@code id} on {@code mountPoint} is in place again —
     * still mounted (the service restarted under it) or mounted anew (after a reboot).
     */
    public Exposure restore(ShadowCopyId id, Path mountPoint) throws IOException {
        Attachment a = attacher.find(key(id)).orElseThrow(() -> new IOException("shadow copy " + id
                + " was exposed on " + mountPoint + " but could not be attached again"));
        if (!dev.shadowcopy.attach.loop.DeviceUsers.mountPoints(a.loopDevice()).contains(mountPoint.toString())) {
            Mounts.mount(a.loopDevice(), mountPoint, Mounts.readOnlyOptions(a.loopDevice()));
            flush(id);
        }
        Exposure e = new Exposure(id, mountPoint, a);
        exposed.put(id, e);
        return e;
    }

    /** Mounts the copy's file system read-only on {@code mountPoint} (created if missing). */
    public synchronized Exposure expose(ShadowCopyId id, BlockDevice copy, Path mountPoint) throws IOException {
        if (exposed.containsKey(id)) {
            throw new IOException("shadow copy " + id + " is already exposed on " + exposed.get(id).mountPoint());
        }
        Files.deleteIfExists(data(id)); // left by a crashed run: scratch that nothing uses
        OverlayDevice overlay = OverlayDevice.createDurable(copy, LocalStorage.INSTANCE, data(id), map(id),
                overlayName(id));
        overlaysById.put(id, overlay);
        Attachment a = null;
        try {
            a = attacher.attach(key(id), overlay, false);
            Mounts.mount(a.loopDevice(), mountPoint, Mounts.readOnlyOptions(a.loopDevice()));
            flush(id); // the journal replayed into the overlay survives a restart of the service
            Exposure e = new Exposure(id, mountPoint, a);
            exposed.put(id, e);
            return e;
        } catch (IOException | RuntimeException e) {
            try {
                if (a != null) {
                    Mounts.unmount(mountPoint, true, "undo expose");
                    attacher.detach(key(id), true);
                }
                overlaysById.remove(id);
                overlay.discard();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private void flush(ShadowCopyId id) throws IOException {
        OverlayDevice o = overlaysById.get(id);
        if (o != null) {
            o.flush();
        }
    }

    /**
     * Unmounts and discards the scratch layer. Refused with {@link InUseException} naming the processes while
     * the mount is busy, unless {@code force} (lazy unmount).
     */
    public synchronized void unexpose(ShadowCopyId id, boolean force) throws IOException {
        Exposure e = exposed.get(id);
        if (e == null) {
            throw new IOException("shadow copy " + id + " is not exposed");
        }
        Mounts.unmount(e.mountPoint(), force, "cannot unexpose shadow copy " + id);
        attacher.detach(key(id), force);
        exposed.remove(id);
        OverlayDevice o = overlaysById.remove(id);
        if (o != null) {
            o.discard();
        }
        Files.deleteIfExists(data(id));
        Files.deleteIfExists(map(id));
    }

    /** Forgets an overlay the attacher did not take back (its copy is gone): deletes its files. */
    public void discardUnused(java.util.Set<ShadowCopyId> keep) throws IOException {
        try (var files = Files.list(overlays)) {
            for (Path f : files.toList()) {
                String stem = f.getFileName().toString().replaceFirst("\\..*$", "");
                ShadowCopyId id;
                try {
                    id = ShadowCopyId.parse(stem);
                } catch (IllegalArgumentException ex) {
                    continue;
                }
                if (!keep.contains(id) && !overlaysById.containsKey(id)) {
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    public Optional<Exposure> find(ShadowCopyId id) {
        return Optional.ofNullable(exposed.get(id));
    }

    public List<Exposure> list() {
        return List.copyOf(exposed.values());
    }

    private static String overlayName(ShadowCopyId id) {
        return "writable scratch layer over shadow copy " + id;
    }
}
