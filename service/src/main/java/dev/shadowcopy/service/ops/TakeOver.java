package dev.shadowcopy.service.ops;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Exposer;
import dev.shadowcopy.attach.Mounts;
import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.provider.BtrfsVolumes;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * At start, attachments and exposures are state: each recorded one is taken over (still attached: the service was
 * restarted under it) or made again (after a reboot), and each change is an event (docs/service.md, "The data
 * path"). Runs after the engine is open and the catalog reconciled, before anything thaws file systems.
 */
public final class TakeOver {
    private TakeOver() {}

    public static void attachmentsAndExposures(Path state, Attacher attacher, Exposer exposer, VolumeManager volumes,
                                               Catalog catalog, BtrfsVolumes btrfs, EventLog events) throws IOException {
        Path recovery = state.resolve("recovery").toAbsolutePath().normalize();
        List<Attacher.Outcome> outcomes = attacher.start(key -> {
            try {
                if (key.startsWith("volume/")) {
                    return volumes.find(key.substring("volume/".length())).orElse(null);
                }
                if (key.startsWith(Exposer.PREFIX)) {
                    ShadowCopyId id = ShadowCopyId.parse(key.substring(Exposer.PREFIX.length()));
                    Optional<ShadowRecord> r = catalog.copy(id);
                    if (r.isEmpty() || r.get().exposedPath() == null) {
                        return null;
                    }
                    Optional<ManagedVolume> v = volumes.find(r.get().volume());
                    return v.isEmpty() ? null : exposer.reopen(id, v.get().shadowCopy(id));
                }
                return null; // auto-recovery layers are never taken over: their set was aborted
            } catch (IOException | RuntimeException e) {
                events.append("attachment-lost", "error", "cannot serve " + key + " again: " + e.getMessage(),
                        Map.of("attachment", key));
                return null;
            }
        }, p -> p.toAbsolutePath().normalize().startsWith(recovery));
        for (Attacher.Outcome o : outcomes) {
            String level = switch (o.kind()) {
                case ADOPTED, CLEANED -> "info";
                case REATTACHED, DROPPED -> "warning";
                case LOST -> "error";
            };
            events.append("attachment-" + o.kind().name().toLowerCase(), level, o.message(),
                    Map.of("attachment", o.key()));
        }
        Set<ShadowCopyId> exposed = new HashSet<>();
        for (ShadowRecord r : catalog.copies()) {
            if (r.exposedPath() == null) {
                continue;
            }
            ShadowCopyId id = r.id();
            Path mount = Path.of(r.exposedPath());
            try {
                var f = btrfs.find(r.volume());
                if (f != null) {
                    if (!Mounts.isMountPoint(mount)) {
                        Files.createDirectories(mount);
                        Commands.run("mount", "--bind", "-o", "ro", f.path(id).toString(), mount.toString());
                    }
                } else {
                    exposer.restore(id, mount);
                    exposed.add(id);
                }
            } catch (IOException | RuntimeException e) {
                events.append("exposure-lost", "error", "shadow copy " + r.id() + " was exposed on " + mount
                        + " and could not be exposed again: " + e.getMessage() + "; expose it again by hand",
                        Map.of("shadow", r.id().toString(), "path", mount.toString()));
                catalog.updateCopy(r.id(), c -> c.withExposedPath(null,
                        (c.attributes() & ~Attributes.EXPOSED_LOCALLY) | Attributes.NOT_SURFACED));
            }
        }
        exposer.discardUnused(exposed);
    }
}
