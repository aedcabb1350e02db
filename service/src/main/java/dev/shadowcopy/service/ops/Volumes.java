package dev.shadowcopy.service.ops;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.attach.InUseException;
import dev.shadowcopy.platform.NativeIOException;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.provider.BtrfsVolumes;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.service.provider.Providers;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowStorageLimit;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The volumes the service knows: managed volumes (the engine's) and registered btrfs subvolumes; creating and
 * deleting them, attaching them as block devices, their shadow storage.
 *
 * <p>Nothing here takes a device from under a file system: detach, delete and restore-over refuse while the device is
 * in use and name its users ({@code VOLUME_IN_USE}); only an explicit {@code force} of detach breaks that. Deleting a
 * volume with protected copies is refused.
 */
public final class Volumes {
    private static final int EFBIG = 27; // "File too large": a size beyond the file system's maximum file size

    private final VolumeManager volumes;
    /** Where the engine keeps the volumes (named when a size is more than its file system allows). */
    private final Path root;
    private final BtrfsVolumes btrfs;
    private final Catalog catalog;
    private final EventLog events;
    private final Attacher attacher;
    private final ShadowCopies shadows;

    public Volumes(VolumeManager volumes, Path root, BtrfsVolumes btrfs, Catalog catalog, EventLog events,
                   Attacher attacher, ShadowCopies shadows) {
        this.volumes = volumes;
        this.root = root;
        this.btrfs = btrfs;
        this.catalog = catalog;
        this.events = events;
        this.attacher = attacher;
        this.shadows = shadows;
    }

    /** The attachment key of a managed volume. */
    public static String key(String volume) {
        return "volume/" + volume;
    }

    public List<ManagedVolume> list() {
        return volumes.list();
    }

    /** Registered btrfs subvolumes. */
    public List<ForeignVolumes.Foreign> btrfsVolumes() {
        return btrfs.list();
    }

    /** The btrfs volume of that name, or null. */
    public ForeignVolumes.Foreign btrfs(String name) {
        return btrfs.find(name);
    }

    /** The managed volume of that name, or {@code OBJECT_NOT_FOUND}. */
    public ManagedVolume get(String name) throws IOException {
        return volumes.get(name);
    }

    public Optional<ManagedVolume> find(String name) {
        return volumes.find(name);
    }

    /** Copies recorded of a volume (of any provider). */
    public long copyCount(String volume) {
        return catalog.copies().stream().filter(c -> c.volume().equals(volume)).count();
    }

    /** Names of the volumes {@code p} serves now. */
    public List<String> servedBy(Providers.Provider p) {
        List<String> out = new ArrayList<>(Providers.volumesOf(p, volumes));
        if (p.name().equals(Providers.BTRFS)) {
            btrfs.list().forEach(f -> out.add(f.name()));
        }
        return out;
    }

    /**
     * Refuses a set that names a provider which does not serve every one of its volumes (btrfs subvolumes are
     * served by the btrfs provider only). {@code provider} null: any.
     */
    public void checkProvider(String provider, List<String> names) throws IOException {
        if (provider == null) {
            return;
        }
        List<ManagedVolume> vs = new ArrayList<>();
        Providers.Provider chosen = Providers.named(provider);
        for (String v : names) {
            if (btrfs.find(v) != null) {
                if (!chosen.name().equals(Providers.BTRFS)) {
                    throw new ServiceException(VssError.VOLUME_NOT_SUPPORTED_BY_PROVIDER, "provider "
                            + chosen.name() + " does not serve volume " + v + " (a btrfs subvolume; it is "
                            + "served by " + Providers.BTRFS + ")");
                }
            } else {
                vs.add(volumes.get(v));
            }
        }
        Providers.check(chosen.name(), vs);
    }

    public ManagedVolume create(VolumeConfig vc) throws IOException {
        return create(vc, null);
    }

    /** Creates a volume, marked incomplete for {@code incomplete} when not null (a restore's new target). */
    public ManagedVolume create(VolumeConfig vc, String incomplete) throws IOException {
        ManagedVolume v;
        try {
            v = volumes.create(vc, incomplete);
        } catch (NativeIOException e) {
            if (e.errno() == EFBIG) {
                throw new ServiceException(VssError.INVALID_ARGUMENT, "volume " + vc.name() + ": " + Sizes.format(
                        vc.size()) + " is more than the file system under " + root + " allows in one file ("
                        + e.getMessage() + "); choose a smaller --size", null, e);
            }
            throw e;
        }
        events.append("volume-created", "info", "volume " + v.name() + " created (" + vc.size() + " bytes)"
                + (incomplete == null ? "" : ", incomplete until " + incomplete), Map.of("volume", v.name()));
        return v;
    }

    /** Registers a btrfs subvolume as a volume of the btrfs provider. */
    public ForeignVolumes.Foreign registerBtrfs(String name, Path subvolume) throws IOException {
        btrfs.add(name, subvolume);
        return btrfs.find(name);
    }

    /**
     * Deletes a volume and its copies; refused when a copy is protected, when it has copies and not {@code force},
     * and while its device is attached and in use.
     */
    public void delete(String name, boolean force) throws IOException {
        if (btrfs.find(name) != null) {
            List<ShadowRecord> copies = catalog.copies().stream().filter(c -> c.volume().equals(name)).toList();
            if (copies.stream().anyMatch(ShadowCopies::isProtected)) {
                shadows.refuse("delete volume " + name, copies.stream().filter(ShadowCopies::isProtected).toList());
            }
            if (!copies.isEmpty() && !force) {
                throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + name + " has " + copies.size()
                        + " shadow copies; delete them first, or force the deletion");
            }
            for (ShadowRecord r : copies) {
                shadows.deleteOne(r, "deleted with its volume");
            }
            btrfs.remove(name, true);
            events.append("volume-deleted", "info", "btrfs volume " + name + " unregistered (the subvolume is left "
                    + "alone)", Map.of("volume", name));
            return;
        }
        ManagedVolume v = volumes.get(name);
        List<ShadowRecord> prot = catalog.copies().stream().filter(c -> c.volume().equals(name)
                && ShadowCopies.isProtected(c)).toList();
        if (!prot.isEmpty()) {
            shadows.refuse("delete volume " + name, prot);
        }
        if (attacher.find(key(name)).isPresent()) {
            // --force of delete is about shadow copies; taking a device from under a file system is a separate,
            // explicit step (volume detach --force)
            detachForChange(name, "delete volume " + name, false, "detach it with `volume detach " + name
                    + " --force` first, then delete it");
        }
        List<ShadowCopyId> ids = v.shadowCopies().stream().map(c -> c.id()).toList();
        volumes.delete(name, force);
        catalog.removeCopies(ids);
        events.append("volume-deleted", "info", "volume " + name + " deleted" + (ids.isEmpty() ? "" : " with "
                + ids.size() + " shadow copies"), Map.of("volume", name));
    }

    /** Attaches a volume as a loop device over the service's FUSE server; refused for an incomplete volume. */
    public Attachment attach(String volume, boolean readOnly) throws IOException {
        ManagedVolume v = volumes.get(volume);
        requireComplete(v, "attached");
        Attachment a = attacher.attach(key(volume), v, readOnly);
        events.append("volume-attached", "info", "volume " + volume + " attached as " + a.loopDevice() + " ("
                + a.path() + ", kept by " + attacher.keeper() + ")", Map.of("volume", volume, "device", a.loopDevice()));
        return a;
    }

    /**
     * Detaches a volume's device; refused while a file system is mounted from it or a process holds it open
     * (the error names them), unless {@code force}: then the file system on it gets I/O errors from now on.
     */
    public void detach(String volume, boolean force) throws IOException {
        Optional<Attachment> a = attacher.find(key(volume));
        if (a.isEmpty()) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "volume " + volume + " is not attached");
        }
        List<String> uses = attacher.users(key(volume));
        try {
            attacher.detach(key(volume), force);
        } catch (InUseException e) {
            throw new ServiceException(VssError.VOLUME_IN_USE, "cannot detach volume " + volume + ": " + e.device()
                    + " is in use (" + String.join("; ", e.uses()) + "). " + e.remedy());
        }
        events.append(uses.isEmpty() ? "volume-detached" : "volume-detached-forced", uses.isEmpty() ? "info" : "warning",
                "volume " + volume + " detached from " + a.get().loopDevice() + (uses.isEmpty() ? "" : " by force while "
                + String.join("; ", uses) + ": its I/O fails from now on"), Map.of("volume", volume));
    }

    /**
     * Before an operation that takes a volume's device away or changes its data underneath (delete, restore
     * over it): refused while the device is in use unless {@code force}; an unused device is detached.
     */
    private void detachForChange(String volume, String what, boolean force, String consequence) throws IOException {
        List<String> uses = attacher.users(key(volume));
        if (!uses.isEmpty() && !force) {
            throw new ServiceException(VssError.VOLUME_IN_USE, what + " refused: volume " + volume + " is attached as "
                    + attacher.find(key(volume)).map(Attachment::loopDevice).orElse("?") + " and in use ("
                    + String.join("; ", uses) + "). Unmount it or close it first, or " + consequence
                    + " (the file system on it then gets I/O errors and loses what it had not written)");
        }
        detach(volume, force);
    }

    /** Who uses the volume's attached device now (mounts, holders, open descriptors); empty if none or detached. */
    public List<String> users(String volume) throws IOException {
        return attacher.users(key(volume));
    }

    public Optional<Attachment> attachment(String volume) {
        return attacher.find(key(volume));
    }

    /** Where attached volumes' descriptors are kept ("holder process 1234", "systemd file-descriptor store"). */
    public String keeper() {
        return attacher.keeper();
    }

    /**
     * Refuses to use a volume an interrupted operation left incomplete (a restore killed with the daemon): its
     * content is neither the old nor the new one.
     */
    public static void requireComplete(ManagedVolume v, String use) throws ServiceException {
        if (v.incomplete() != null) {
            throw new ServiceException(VssError.BAD_STATE, "volume " + v.name() + " is incomplete and cannot be " + use
                    + ": " + v.incomplete());
        }
    }

    /**
     * Changes the maximum of a volume's shadow storage. A maximum below what its protected copies need is refused
     * (their data would have to go: shrinking shadow storage is no way around protection).
     */
    public void resizeShadowStorage(String volume, ShadowStorageLimit limit) throws IOException {
        ManagedVolume v = volumes.get(volume);
        List<ShadowRecord> prot = catalog.copies().stream().filter(c -> c.volume().equals(volume)
                && ShadowCopies.isProtected(c)).toList();
        long kept = prot.isEmpty() ? 0 : v.shadowStorageKept();
        if (limit.resolve(v.size()) < kept) {
            Instant until = prot.stream().map(ShadowRecord::protectUntil).max(Comparator.naturalOrder()).orElseThrow();
            String copies = String.join(", ", prot.stream().map(r -> r.id() + " (until " + r.protectUntil() + ")")
                    .toList());
            events.append("resize-refused", "warning", "refused: resize shadowstorage --for " + volume + " --maxsize "
                    + limit + " would release protected shadow copies " + copies, Map.of("volume", volume,
                    "shadows", ShadowCopies.ids(prot)));
            throw new ServiceException(VssError.PROTECTED, "refused: shadow storage of volume " + volume + " cannot "
                    + "shrink to " + limit + ": protected shadow cop" + (prot.size() == 1 ? "y " : "ies ") + copies
                    + " need " + Sizes.format(kept) + " of it. Give a maximum of at least "
                    + Sizes.format(kept) + ", or shrink it after " + until);
        }
        volumes.resizeShadowStorage(volume, limit);
        events.append("shadowstorage-resized", "info", "shadow storage of " + volume + " set to " + limit,
                Map.of("volume", volume));
        // a smaller maximum may have released copies; the engine reported them, the catalog follows
        shadows.syncWithEngine();
    }
}
