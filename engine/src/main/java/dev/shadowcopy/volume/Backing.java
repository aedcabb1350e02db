package dev.shadowcopy.volume;

import java.nio.file.Path;
import java.util.Objects;

/** Where a managed volume keeps its live data. */
public sealed interface Backing {

    /** A sparse file created for the volume inside its own directory ({@code data.img}). */
    record Sparse() implements Backing {
        @Override
        public String toString() {
            return "sparse file";
        }
    }

    /**
     * An existing regular file or block device (e.g. {@code /dev/loop3}), used in place. Its size is the
     * volume's size unless a smaller one is configured.
     */
    record Existing(Path path) implements Backing {
        public Existing {
            Objects.requireNonNull(path, "path");
            if (!path.isAbsolute()) {
                throw new IllegalArgumentException("backing path must be absolute, was " + path);
            }
        }

        @Override
        public String toString() {
            return path.toString();
        }
    }

    static Backing sparse() {
        return new Sparse();
    }

    static Backing existing(Path path) {
        return new Existing(path.toAbsolutePath().normalize());
    }
}
