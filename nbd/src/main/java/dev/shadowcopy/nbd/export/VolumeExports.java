package dev.shadowcopy.nbd.export;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.nbd.protocol.Nbd;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowCopyDevice;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The exports of a state directory: every managed volume under its name (read-write), every shadow copy as
 * {@code shadow/<uuid>} (read-only), aliases the service gives copies (diskshadow's {@code alias}), and
 * extra exports the service adds (a backup point for instant recovery, a writable overlay).
 *
 * <p>Dirty bitmaps: an export of volume V (live, or one of its copies) offers {@code qemu:dirty-bitmap:<uuid>}
 * for every copy of V older than what is exported, and accepts {@code qemu:dirty-bitmap:seq-<N>} for any
 * copy sequence N the engine can vouch for (the copy itself may be gone): "changed since that copy".
 *
 * <p>Thread-safety: the maps are concurrent; volumes and copies are looked up on every open.
 */
public final class VolumeExports implements ExportRegistry {
    public static final String SHADOW_PREFIX = "shadow/";

    private final VolumeManager volumes;
    private final Map<String, ShadowCopyId> aliases = new ConcurrentHashMap<>();
    private final Map<String, Extra> extras = new ConcurrentHashMap<>();

    private record Extra(String description, Supplier<Export> factory) {}

    public VolumeExports(VolumeManager volumes) {
        this.volumes = volumes;
    }

    /** Exports {@code shadow/<id>} also as {@code alias}. */
    public void addAlias(String alias, ShadowCopyId copy) {
        aliases.put(alias, copy);
    }

    public void removeAlias(String alias) {
        aliases.remove(alias);
    }

    /** Adds an export served by {@code factory} (called once per connection). */
    public void addExport(String name, String description, Supplier<Export> factory) {
        extras.put(name, new Extra(description, factory));
    }

    public void removeExport(String name) {
        extras.remove(name);
    }

    @Override
    public List<Listing> list() {
        List<Listing> out = volumeListings(v -> true);
        aliases.forEach((alias, id) -> out.add(new Listing(alias, "alias of " + SHADOW_PREFIX + id)));
        extras.forEach((name, extra) -> out.add(new Listing(name, extra.description())));
        return out;
    }

    private List<Listing> volumeListings(Predicate<String> volume) {
        List<Listing> out = new ArrayList<>();
        for (ManagedVolume v : volumes.list()) {
            if (volume.test(v.name())) {
                out.add(new Listing(v.name(), describe(v)));
                for (ShadowCopyInfo c : v.shadowCopies()) {
                    out.add(new Listing(SHADOW_PREFIX + c.id(), describe(c)));
                }
            }
        }
        return out;
    }

    /**
     * A view with only the volumes {@code volume} accepts and their shadow copies, for a peer that may not see
     * everything; aliases and extra exports (recovery overlays, backup points) are left out.
     */
    public ExportRegistry restrictedTo(Predicate<String> volume) {
        return new ExportRegistry() {
            @Override
            public List<Listing> list() {
                return volumeListings(volume);
            }

            @Override
            public Export open(String name) throws IOException {
                if (extras.containsKey(name) || aliases.containsKey(name)) {
                    return null;
                }
                Export e = VolumeExports.this.open(name);
                String of = switch (e) {
                    case LiveExport l -> l.volume().name();
                    case CopyExport c -> c.volume().name();
                    case null, default -> null;
                };
                if (of == null || !volume.test(of)) {
                    if (e != null) {
                        e.close();
                    }
                    return null;
                }
                return e;
            }
        };
    }

    private static String describe(ManagedVolume v) {
        return "volume " + v.name() + ", " + Sizes.format(v.size()) + ", " + v.config().layout().shortName()
                + ", read-write";
    }

    private static String describe(ShadowCopyInfo c) {
        return "shadow copy of volume " + c.volume() + " taken " + c.created() + " (sequence " + c.sequence()
                + "), read-only";
    }

    @Override
    public Export open(String name) throws IOException {
        Extra extra = extras.get(name);
        if (extra != null) {
            return extra.factory().get();
        }
        ShadowCopyId aliased = aliases.get(name);
        if (aliased != null || name.startsWith(SHADOW_PREFIX)) {
            ShadowCopyId id;
            try {
                id = aliased != null ? aliased : ShadowCopyId.parse(name.substring(SHADOW_PREFIX.length()));
            } catch (IllegalArgumentException e) {
                return null;
            }
            for (ManagedVolume v : volumes.list()) {
                for (ShadowCopyInfo c : v.shadowCopies()) {
                    if (c.id().equals(id)) {
                        return new CopyExport(name, v, v.shadowCopy(id));
                    }
                }
            }
            return null;
        }
        ManagedVolume v = volumes.find(name).orElse(null);
        if (v != null && v.incomplete() != null) {
            throw new ExportUnavailableException("volume " + name + " is incomplete and cannot be served: "
                    + v.incomplete());
        }
        return v == null ? null : new LiveExport(v);
    }

    /** The sequence a bitmap name stands for on volume {@code v} (below {@code before}), or -1. */
    private static int sequenceOf(ManagedVolume v, String bitmap, int before) {
        if (bitmap.startsWith("seq-")) {
            try {
                int n = Integer.parseInt(bitmap.substring(4));
                return n >= v.trackingSince() && n < before ? n : -1;
            } catch (NumberFormatException e) {
                return -1;
            }
        }
        try {
            ShadowCopyId id = ShadowCopyId.parse(bitmap);
            for (ShadowCopyInfo c : v.shadowCopies()) {
                if (c.id().equals(id) && c.sequence() < before && c.sequence() >= v.trackingSince()) {
                    return c.sequence();
                }
            }
        } catch (IllegalArgumentException e) {
            // not a copy id
        }
        return -1;
    }

    private static List<String> bitmaps(ManagedVolume v, int before) {
        List<String> out = new ArrayList<>();
        for (ShadowCopyInfo c : v.shadowCopies()) {
            if (c.sequence() < before && c.sequence() >= v.trackingSince()) {
                out.add(c.id().toString());
            }
        }
        return out;
    }

    /** Translates the engine's change flag (1) into the dirty-bitmap state. */
    private static BlockDevice.ExtentVisitor dirty(BlockDevice.ExtentVisitor visitor) {
        return (offset, length, flags) -> visitor.extent(offset, length, (flags & 1) != 0 ? Nbd.STATE_DIRTY : 0);
    }

    private record LiveExport(ManagedVolume volume) implements Export {
        @Override
        public String name() {
            return volume.name();
        }

        @Override
        public String description() {
            return describe(volume);
        }

        @Override
        public BlockDevice device() {
            return volume;
        }

        @Override
        public List<String> dirtyBitmaps() {
            return bitmaps(volume, Integer.MAX_VALUE);
        }

        @Override
        public boolean hasDirtyBitmap(String name) {
            return sequenceOf(volume, name, Integer.MAX_VALUE) >= 0;
        }

        @Override
        public void mapDirty(String bitmap, long offset, long length, BlockDevice.ExtentVisitor visitor)
                throws IOException {
            int seq = sequenceOf(volume, bitmap, Integer.MAX_VALUE);
            if (seq < 0) {
                throw new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "dirty bitmap " + bitmap
                        + " is no longer available on " + volume.name());
            }
            volume.mapChangesSince(seq, offset, length, dirty(visitor));
        }
    }

    private record CopyExport(String name, ManagedVolume volume, ShadowCopyDevice copy) implements Export {
        @Override
        public String description() {
            return describe(copy.info());
        }

        @Override
        public BlockDevice device() {
            return copy;
        }

        @Override
        public List<String> dirtyBitmaps() {
            return bitmaps(volume, copy.info().sequence());
        }

        @Override
        public boolean hasDirtyBitmap(String bitmap) {
            return sequenceOf(volume, bitmap, copy.info().sequence()) >= 0;
        }

        @Override
        public void mapDirty(String bitmap, long offset, long length, BlockDevice.ExtentVisitor visitor)
                throws IOException {
            int seq = sequenceOf(volume, bitmap, copy.info().sequence());
            if (seq < 0) {
                throw new VolumeException(VolumeException.Code.OBJECT_NOT_FOUND, "dirty bitmap " + bitmap
                        + " is no longer available on " + name);
            }
            copy.mapChangesSince(seq, offset, length, dirty(visitor));
        }
    }
}
