package dev.shadowcopy.volume;

import java.util.Locale;

/**
 * How a managed volume keeps its shadow copies — the copy method of its software provider. Chosen when the
 * volume is created; docs/providers.md says when to pick which.
 */
public enum VolumeLayout {
    /** Before a chunk is first overwritten after a copy, its old content is copied to shadow storage. */
    COPY_ON_WRITE("cow"),
    /** Writes after a copy go to shadow storage; the original chunks stay where they are, as the copy. */
    REDIRECT_ON_WRITE("row"),
    /** A full mirror kept in step with the volume; a copy splits it off as an independent image. */
    SPLIT_MIRROR("mirror"),
    /** A backing file on XFS/btrfs; each copy is a FICLONE clone of it (the file system shares the extents). */
    REFLINK("reflink");

    private final String shortName;

    VolumeLayout(String shortName) {
        this.shortName = shortName;
    }

    /** The short name used in descriptors and on the command line: cow, row, mirror, reflink. */
    public String shortName() {
        return shortName;
    }

    /** Parses {@code cow}, {@code row}, {@code mirror} (or the enum names, any case). */
    public static VolumeLayout parse(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT).replace('_', '-');
        for (VolumeLayout l : values()) {
            if (l.shortName.equals(t) || l.name().toLowerCase(Locale.ROOT).replace('_', '-').equals(t)) {
                return l;
            }
        }
        throw new IllegalArgumentException("unknown volume layout '" + text + "' (expected cow, row, mirror or reflink)");
    }
}
