package dev.shadowcopy.service.provider;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.VolumeManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The providers behind the one sequence, as VSS lists them. Each managed volume is served by the provider of
 * its layout (chosen when the volume is created, docs/providers.md says when to pick which): the software
 * provider for copy-on-write and redirect-on-write, the reflink provider for a backing file on XFS/btrfs cloned
 * with FICLONE. A set may name a provider; a volume it does not serve is refused.
 */
public final class Providers {
    public static final String SOFTWARE = "shadowcopy-software";
    public static final String REFLINK = "shadowcopy-reflink";
    public static final String MIRROR = "shadowcopy-mirror";
    public static final String BTRFS = "shadowcopy-btrfs";

    /** One provider and what it serves. */
    public record Provider(String name, String type, String id, String version, String description,
                           Set<VolumeLayout> layouts, List<String> attributes) {}

    public static final List<Provider> ALL = List.of(
            new Provider(SOFTWARE, "software", "b5946137-7b9f-4925-af80-51abd60b20d5", "0.1.0",
                    "copy-on-write (cow) and redirect-on-write (row) on managed volumes, crash-safe metadata, "
                            + "change tracking", Set.of(VolumeLayout.COPY_ON_WRITE, VolumeLayout.REDIRECT_ON_WRITE),
                    List.of("Differential")),
            new Provider(REFLINK, "file system", "6f1d2c9a-3c0e-4d55-9a63-2b1f0c7e8d41", "0.1.0",
                    "FICLONE clones of a volume's backing file on XFS (reflink=1) or btrfs; instant revert, no change "
                            + "tracking", Set.of(VolumeLayout.REFLINK), List.of("Differential")),
            new Provider(MIRROR, "software (full copy)", "0c3e8a51-7d2b-4f6e-b1a9-95d4e2c7f803", "0.1.0",
                    "split mirror: a full mirror kept in step, split off as an independent image, resynchronised in "
                            + "the background", Set.of(VolumeLayout.SPLIT_MIRROR), List.of("Plex")),
            new Provider(BTRFS, "file system", "2d7b5e04-81c6-4a3f-9e2d-6c5a1f0b9e17", "0.1.0",
                    "read-only btrfs snapshots of registered btrfs subvolumes (file trees: expose and delete; no NBD "
                            + "export, image backup or revert)", Set.of(), List.of("Differential")));

    private Providers() {}

    /** The provider serving a volume. */
    public static Provider of(ManagedVolume v) {
        for (Provider p : ALL) {
            if (p.layouts().contains(v.config().layout())) {
                return p;
            }
        }
        return ALL.getFirst();
    }

    public static Provider named(String name) throws ServiceException {
        for (Provider p : ALL) {
            if (p.name().equalsIgnoreCase(name) || p.id().equalsIgnoreCase(name)) {
                return p;
            }
        }
        throw new ServiceException(VssError.PROVIDER_NOT_REGISTERED, "no provider " + name + " (see `list providers`)");
    }

    /** Refuses a set whose volumes the named provider does not serve. */
    public static void check(String provider, List<ManagedVolume> volumes) throws ServiceException {
        if (provider == null || provider.isBlank()) {
            return;
        }
        Provider p = named(provider);
        for (ManagedVolume v : volumes) {
            if (!p.layouts().contains(v.config().layout())) {
                throw new ServiceException(VssError.VOLUME_NOT_SUPPORTED_BY_PROVIDER, "provider " + p.name()
                        + " does not serve volume " + v.name() + " (layout " + v.config().layout().shortName()
                        + "; it is served by " + of(v).name() + ")");
            }
        }
    }

    /** Volume names each provider serves now. */
    public static List<String> volumesOf(Provider p, VolumeManager volumes) {
        List<String> out = new ArrayList<>();
        for (ManagedVolume v : volumes.list()) {
            if (p.layouts().contains(v.config().layout())) {
                out.add(v.name());
            }
        }
        return out;
    }
}
