package dev.shadowcopy.service.ops;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.attach.Exposer;
import dev.shadowcopy.attach.InUseException;
import dev.shadowcopy.attach.Mounts;
import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.provider.BtrfsVolumes;
import dev.shadowcopy.service.sequence.SessionManager;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The shadow copies the service knows (vssadmin's {@code list/delete shadows}, diskshadow's {@code expose},
 * {@code revert}, protection): the catalog's records of them, kept in step with the engine and the btrfs provider.
 *
 * <p>Order of a delete: the provider's data first, then the record (a crash in between leaves a record the
 * reconciler reports as missing, never data without a record). Protection: before a copy's protection date no
 * path here removes it — every refusal is an event and a {@code PROTECTED} error naming the copies.
 *
 * <p>Thread-safety: the catalog and the event log synchronise themselves; the engine serialises operations on a
 * volume. Two deletes of the same copy may race; the second finds no data and drops the record again (harmless).
 */
public final class ShadowCopies {
    private static final System.Logger LOG = System.getLogger(ShadowCopies.class.getName());

    private final Catalog catalog;
    private final EventLog events;
    private final VolumeManager volumes;
    private final BtrfsVolumes btrfs;
    private final Attacher attacher;
    private final Exposer exposer;
    private final SessionManager sessions;

    /** Mount points of the service's own copy mounts (previous versions, Samba), which an expose may replace. */
    private volatile Predicate<Path> automaticExposures = p -> false;

    public ShadowCopies(Catalog catalog, EventLog events, VolumeManager volumes, BtrfsVolumes btrfs, Attacher attacher,
                        Exposer exposer, SessionManager sessions) {
        this.catalog = catalog;
        this.events = events;
        this.volumes = volumes;
        this.btrfs = btrfs;
        this.attacher = attacher;
        this.exposer = exposer;
        this.sessions = sessions;
    }

    /**
     * Tells which mount points are the service's own copy mounts (previous versions, Samba): a delete takes them
     * away even while in use, and an explicit expose replaces them.
     */
    public void automaticExposures(Predicate<Path> automatic) {
        this.automaticExposures = automatic;
    }

    /** Which copies a delete names: exactly one of a copy, a set, a volume (optionally its oldest copy), or all. */
    public record Selector(String shadow, String set, String volume, boolean oldest, boolean all) {
        /** One copy, by id or unique prefix. */
        public static Selector shadow(String id) {
            return new Selector(id, null, null, false, false);
        }

        /** As the CLI words it, for events and refusals. */
        String describe() {
            if (shadow != null) {
                return "delete shadows --shadow " + shadow;
            }
            if (set != null) {
                return "delete shadows --set " + set;
            }
            if (volume != null) {
                return "delete shadows --for " + volume + (oldest ? " --oldest" : "");
            }
            return "delete shadows --all";
        }
    }

    /** What a delete did: copies deleted, and protected copies it refused to delete. */
    public record DeleteResult(List<ShadowCopyId> deleted, List<ShadowRecord> refused) {}

    /** Every copy, oldest first, after dropping records of copies the engine released on its own. */
    public List<ShadowRecord> list() {
        syncWithEngine();
        return catalog.copies().stream().sorted(Comparator.comparing(ShadowRecord::created)).toList();
    }

    /** Copies recorded now (without asking the engine first). */
    public int count() {
        return catalog.copies().size();
    }

    /** The copy {@code id} names: a whole id (with or without braces) or a unique prefix, as backups take. */
    public ShadowRecord get(String id) throws ServiceException {
        String full = IdPrefix.resolve(id, catalog.copies().stream().map(r -> r.id().toString()).toList(),
                "shadow copy", "shadowcopy list shadows");
        return catalog.copy(ShadowCopyId.parse(full)).orElseThrow(() -> new ServiceException(VssError.OBJECT_NOT_FOUND,
                "no shadow copy " + id + " (see 'shadowcopy list shadows')"));
    }

    /** The copies of the set {@code set} names (a whole id or a unique prefix); refused if there are none. */
    public List<ShadowRecord> ofSet(String set) throws ServiceException {
        List<ShadowRecord> all = list();
        String full = IdPrefix.resolve(set, all.stream().filter(r -> r.setId() != null)
                .map(r -> r.setId().toString()).distinct().toList(), "shadow copy set", "shadowcopy list shadows");
        return all.stream().filter(r -> r.setId() != null && full.equals(r.setId().toString())).toList();
    }

    /** The size the provider reports for a managed volume's copy, if it has one. */
    public Optional<Long> size(ShadowRecord s) {
        return volumes.find(s.volume()).flatMap(v -> v.shadowCopies().stream()
                .filter(c -> c.id().equals(s.id())).findFirst()).map(ShadowCopyInfo::size);
    }

    /** Deletes what {@code sel} names except protected copies; refused outright when all it names are protected. */
    public DeleteResult delete(Selector sel) throws IOException {
        List<ShadowRecord> selected = select(sel);
        List<ShadowCopyId> deleted = new ArrayList<>();
        List<ShadowRecord> refused = new ArrayList<>();
        for (ShadowRecord r : selected) {
            if (r.isProtected()) {
                refused.add(r);
                continue;
            }
            deleteOne(r, "deleted on request");
            deleted.add(r.id());
        }
        if (!refused.isEmpty()) {
            events.append("delete-refused", "warning", "refused to delete " + refused.size() + " protected shadow cop"
                    + (refused.size() == 1 ? "y" : "ies") + " (" + sel.describe() + "): " + refused.stream()
                    .map(r -> r.id() + " until " + r.protectUntil()).toList(),
                    Map.of("shadows", ids(refused), "request", sel.describe()));
            if (deleted.isEmpty()) {
                refuse(sel.describe(), refused);
            }
        }
        return new DeleteResult(deleted, refused);
    }

    private List<ShadowRecord> select(Selector sel) throws IOException {
        int given = (sel.shadow() != null ? 1 : 0) + (sel.set() != null ? 1 : 0) + (sel.volume() != null ? 1 : 0)
                + (sel.all() ? 1 : 0);
        if (given != 1) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "name exactly one of: a shadow copy, a set, a volume "
                    + "(optionally the oldest copy of it), or all");
        }
        if (sel.shadow() != null) {
            return List.of(get(sel.shadow()));
        }
        if (sel.set() != null) {
            return ofSet(sel.set());
        }
        List<ShadowRecord> all = list();
        if (sel.volume() != null) {
            if (btrfs.find(sel.volume()) == null) {
                volumes.get(sel.volume());
            }
            List<ShadowRecord> s = all.stream().filter(r -> r.volume().equals(sel.volume())).toList();
            if (sel.oldest()) {
                return s.stream().limit(1).toList(); // the oldest, even if protected: then it is refused
            }
            return s;
        }
        return all;
    }

    /** Deletes one copy: unexposed, the provider's data, then the record; the session forgets it. */
    void deleteOne(ShadowRecord r, String why) throws IOException {
        if (r.exposedPath() != null) {
            // the service's own mounts (previous versions, Samba) never hold a delete back: smbd keeps them open
            boolean automatic = automaticExposures.test(Path.of(r.exposedPath()));
            if (btrfs.find(r.volume()) != null) {
                Mounts.unmount(Path.of(r.exposedPath()), automatic, "cannot delete shadow copy " + r.id());
            } else {
                exposer.unexpose(r.id(), automatic);
            }
        }
        Optional<ManagedVolume> v = volumes.find(r.volume());
        var f = btrfs.find(r.volume());
        if (v.isPresent()) {
            v.get().deleteShadowCopy(r.id()); // data first, then the record
        } else if (f != null) {
            f.delete(r.id());
        }
        catalog.removeCopies(List.of(r.id()));
        if (r.sessionId() != null) {
            sessions.find(r.sessionId()).ifPresent(s -> s.forgetCopy(r.id().toString()));
        }
        events.append("shadow-deleted", "info", "shadow copy " + r.id() + " of volume " + r.volume() + " " + why,
                Map.of("shadow", r.id().toString(), "volume", r.volume()));
    }

    /** True while the copy's protection date is in the future. */
    public static boolean isProtected(ShadowRecord r) {
        return r.isProtected();
    }

    /** The records' ids as text (event details). */
    static List<String> ids(List<ShadowRecord> records) {
        return records.stream().map(r -> r.id().toString()).toList();
    }

    /** Records and throws the refusal of {@code what}, which would remove the protected copies {@code prot}. */
    void refuse(String what, List<ShadowRecord> prot) throws ServiceException {
        events.append("delete-refused", "warning", "refused: " + what + " would remove " + prot.size()
                + " protected shadow cop" + (prot.size() == 1 ? "y" : "ies"), Map.of("shadows", ids(prot)));
        ShadowRecord first = prot.getFirst();
        throw new ServiceException(VssError.PROTECTED, "refused: shadow cop" + (prot.size() == 1 ? "y " : "ies ")
                + String.join(", ", ids(prot)) + (prot.size() == 1 ? " is" : " are")
                + " protected until " + first.protectUntil() + "; nothing protected was deleted");
    }

    /** Protects a copy until {@code until}; protection can be extended, never shortened. */
    public ShadowRecord protect(String id, Instant until) throws IOException {
        ShadowRecord r = get(id);
        if (r.isProtected() && r.protectUntil().isAfter(until)) {
            throw new ServiceException(VssError.PROTECTED, "shadow copy " + r.id() + " is protected until "
                    + r.protectUntil() + "; protection can be extended but not shortened");
        }
        catalog.updateCopy(r.id(), c -> c.withProtectUntil(until));
        events.append("shadow-protected", "info", "shadow copy " + r.id() + " protected until " + until,
                Map.of("shadow", r.id().toString(), "until", until.toString()));
        return get(r.id().toString());
    }

    /**
     * Reverts the copy's volume to it; the copies taken after it are deleted (refused if one is protected).
     * Refused while the volume's device is in use, unless {@code force}.
     */
    public void revert(String id, boolean force) throws IOException {
        ShadowRecord r = get(id);
        if (btrfs.find(r.volume()) != null) {
            throw new ServiceException(VssError.BAD_STATE, "shadow copy " + r.id() + " is a btrfs snapshot; the "
                    + "service does not revert btrfs subvolumes in place (open files would keep the old subvolume). "
                    + "Expose it and copy back, or replace the subvolume with `btrfs subvolume snapshot` of it");
        }
        ManagedVolume v = volumes.get(r.volume());
        Optional<Attachment> attached = attacher.find(Volumes.key(v.name()));
        List<String> uses = attacher.users(Volumes.key(v.name()));
        if (!uses.isEmpty() && !force) {
            throw new ServiceException(VssError.VOLUME_IN_USE, "revert refused: volume " + v.name() + " is attached as "
                    + attached.map(Attachment::loopDevice).orElse("?") + " and in use (" + String.join("; ", uses)
                    + "). Unmount it first, or use --force: the data would change under the file system, which then "
                    + "needs an fsck and may lose files");
        }
        ShadowCopyInfo target = v.shadowCopies().stream().filter(c -> c.id().equals(r.id())).findFirst()
                .orElseThrow(() -> new ServiceException(VssError.OBJECT_NOT_FOUND, "shadow copy " + r.id()
                        + " has no data in the engine"));
        List<ShadowRecord> later = catalog.copies().stream().filter(c -> c.volume().equals(v.name()))
                .filter(c -> v.shadowCopies().stream().anyMatch(i -> i.id().equals(c.id())
                        && i.sequence() > target.sequence())).toList();
        List<ShadowRecord> prot = later.stream().filter(ShadowCopies::isProtected).toList();
        if (!prot.isEmpty()) {
            refuse("revert to " + r.id() + " (it deletes the copies taken after it)", prot);
        }
        v.revert(target.id());
        if (attached.isPresent()) {
            // the loop device may cache blocks read before the revert: drop them (BLKFLSBUF)
            Commands.run("blockdev", "--flushbufs", attached.get().loopDevice());
        }
        syncWithEngine();
        events.append("volume-reverted", "warning", "volume " + v.name() + " reverted to shadow copy " + r.id()
                + " (" + later.size() + " later copies deleted)", Map.of("volume", v.name(), "shadow", r.id().toString()));
    }

    /** Mounts the copy read-only on {@code mountPoint} (diskshadow's expose). */
    public ShadowRecord expose(String id, Path mountPoint) throws IOException {
        ShadowRecord r = get(id);
        if (r.exposedPath() != null && automaticExposures.test(Path.of(r.exposedPath()))
                && !automaticExposures.test(mountPoint)) {
            unexpose(id, false); // a mount the service made for previous versions gives way to an explicit expose
            r = get(id);
        }
        if ((r.attributes() & Attributes.CLIENT_ACCESSIBLE) != 0) {
            // VSS refuses to expose client-accessible copies; a Linux admin has no Previous Versions tab, so we
            // allow it and note it here.
            LOG.log(System.Logger.Level.DEBUG, "exposing client-accessible copy {0}", r.id());
        }
        var f = btrfs.find(r.volume());
        if (f != null) {
            // A btrfs snapshot is a read-only file tree already: a read-only bind mount shows it.
            Files.createDirectories(mountPoint);
            Commands.run("mount", "--bind", "-o", "ro", f.path(r.id()).toString(),
                    mountPoint.toAbsolutePath().toString());
        } else {
            ManagedVolume v = volumes.get(r.volume());
            exposer.expose(r.id(), v.shadowCopy(r.id()), mountPoint.toAbsolutePath());
        }
        catalog.updateCopy(r.id(), c -> c.withExposedPath(mountPoint.toAbsolutePath().toString(),
                (c.attributes() | Attributes.EXPOSED_LOCALLY) & ~Attributes.NOT_SURFACED));
        events.append("shadow-exposed", "info", "shadow copy " + r.id() + " exposed on " + mountPoint,
                Map.of("shadow", r.id().toString(), "path", mountPoint.toString()));
        return get(r.id().toString());
    }

    /** Unmounts an exposed copy; refused while the mount is in use, unless {@code force} (a lazy unmount). */
    public void unexpose(String id, boolean force) throws IOException {
        ShadowRecord r = get(id);
        if (r.exposedPath() == null) {
            throw new ServiceException(VssError.BAD_STATE, "shadow copy " + r.id() + " is not exposed");
        }
        try {
            if (btrfs.find(r.volume()) != null) {
                Mounts.unmount(Path.of(r.exposedPath()), force, "cannot unexpose shadow copy " + r.id());
            } else {
                exposer.unexpose(r.id(), force);
            }
        } catch (InUseException e) {
            throw new ServiceException(VssError.VOLUME_IN_USE, e.getMessage());
        }
        catalog.updateCopy(r.id(), c -> c.withExposedPath(null,
                (c.attributes() & ~Attributes.EXPOSED_LOCALLY) | Attributes.NOT_SURFACED));
        events.append("shadow-unexposed", "info", "shadow copy " + r.id() + " unexposed", Map.of("shadow",
                r.id().toString()));
    }

    /** Drops catalog records of copies the engine released on its own (shadow storage full, revert). */
    void syncWithEngine() {
        List<ShadowCopyId> gone = new ArrayList<>();
        for (ShadowRecord r : catalog.copies()) {
            if (r.state() == ShadowRecord.State.MISSING) {
                continue;
            }
            var f = btrfs.find(r.volume());
            if (f != null) {
                if (!f.exists(r.id())) {
                    gone.add(r.id());
                }
                continue;
            }
            Optional<ManagedVolume> v = volumes.find(r.volume());
            if (v.isEmpty() || v.get().shadowCopies().stream().noneMatch(c -> c.id().equals(r.id()))) {
                gone.add(r.id());
            }
        }
        if (!gone.isEmpty()) {
            try {
                catalog.removeCopies(gone);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot update the catalog: {0}", e.toString());
            }
        }
    }
}
