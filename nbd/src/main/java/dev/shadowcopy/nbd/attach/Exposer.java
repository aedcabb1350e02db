package dev.shadowcopy.nbd.attach;

import dev.shadowcopy.nbd.export.DeviceExport;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.volume.ShadowCopyDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * diskshadow's {@code expose}: a shadow copy's file system mounted read-only on a directory.
 *
 * <p>A copy of a volume whose file system was mounted when the copy was taken has a dirty journal (ext4) or
 * log (XFS); mounting it means replaying that journal, which writes. The copy itself is read-only and must
 * stay exact, so it is exported through a throw-away {@link OverlayDevice}: the replay lands in the overlay,
 * the mount is read-only on top of that, and unexpose discards the overlay. ({@code -o ro,noload} would also
 * mount it, but would show the file system without the transactions in its journal.)
 */
public final class Exposer {
    private static final String PREFIX = "expose/";

    private final Path overlays;
    private final VolumeExports exports;
    private final LocalAttacher attacher;
    private final Map<ShadowCopyId, Exposure> exposed = new ConcurrentHashMap<>();

    /** One exposed copy. */
    public record Exposure(ShadowCopyId copy, Path mountPoint, Attachment attachment, OverlayDevice overlay) {}

    public Exposer(Path stateDir, VolumeExports exports, LocalAttacher attacher) throws IOException {
        this.overlays = Files.createDirectories(stateDir.resolve("overlays"));
        this.exports = exports;
        this.attacher = attacher;
    }

    /** Mounts the copy's file system read-only on {@code mountPoint} (created if missing). */
    public synchronized Exposure expose(ShadowCopyDevice copy, Path mountPoint) throws IOException {
        if (exposed.containsKey(copy.id())) {
            throw new IOException("shadow copy " + copy.id() + " is already exposed on "
                    + exposed.get(copy.id()).mountPoint());
        }
        Path overlayFile = overlays.resolve(copy.id() + ".img");
        Files.deleteIfExists(overlayFile); // left by a crashed run: it is only ever scratch space
        OverlayDevice overlay = OverlayDevice.create(copy, LocalStorage.INSTANCE, overlayFile,
                "writable scratch layer over shadow copy " + copy.id());
        String export = PREFIX + copy.id();
        exports.addExport(export, "shadow copy " + copy.id() + " as exposed (read-only file system, scratch layer)",
                () -> new DeviceExport(export, "exposed shadow copy " + copy.id(), overlay));
        Attachment a = null;
        try {
            a = attacher.attach(export, false);
            Files.createDirectories(mountPoint);
            LocalAttacher.run("mount", "-o", "ro", a.loopDevice(), mountPoint.toString());
            Exposure e = new Exposure(copy.id(), mountPoint, a, overlay);
            exposed.put(copy.id(), e);
            return e;
        } catch (IOException | RuntimeException e) {
            if (a != null) {
                try {
                    attacher.detach(export);
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            exports.removeExport(export);
            overlay.close();
            throw e;
        }
    }

    /** Unmounts and discards the scratch layer. */
    public synchronized void unexpose(ShadowCopyId copy) throws IOException {
        Exposure e = exposed.get(copy);
        if (e == null) {
            throw new IOException("shadow copy " + copy + " is not exposed");
        }
        LocalAttacher.run("umount", e.mountPoint().toString());
        attacher.detach(PREFIX + copy);
        exports.removeExport(PREFIX + copy);
        e.overlay().close();
        exposed.remove(copy);
    }

    public List<Exposure> list() {
        return List.copyOf(exposed.values());
    }

    /** Unexposes everything (at stop). */
    public synchronized void unexposeAll() {
        for (ShadowCopyId id : List.copyOf(exposed.keySet())) {
            try {
                unexpose(id);
            } catch (IOException e) {
                System.getLogger(Exposer.class.getName()).log(System.Logger.Level.WARNING,
                        "unexposing {0} failed: {1}", id, e.getMessage());
            }
        }
    }
}
