package dev.shadowcopy.image.export;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.RepositoryDevice;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.volume.FileDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

/**
 * {@code backups export}: a volume of a backup point as a disk image for hypervisors. qcow2 is written natively
 * ({@link Qcow2Writer}); raw is a sparse restore into a new file; VMDK and VHDX go through {@code qemu-img convert}
 * from a temporary qcow2 next to the target, removed afterwards. The target must not exist.
 */
public final class Exporter {
    /** The image formats. */
    public enum Format {
        QCOW2, RAW, VMDK, VHDX;

        /** {@code qcow2}, {@code raw}, {@code vmdk}, {@code vhdx}. */
        public static Format parse(String s) {
            for (Format f : values()) {
                if (f.name().toLowerCase(Locale.ROOT).equals(s)) {
                    return f;
                }
            }
            throw new IllegalArgumentException("unknown format " + s + " (qcow2, raw, vmdk, vhdx)");
        }

        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What was exported: the backup id the request resolved to, and the target's size on disk. */
    public record Result(String backup, String volume, Path target, Format format, long bytesOnDisk) {}

    private Exporter() {}

    /**
     * Writes volume {@code volume} of backup {@code idOrPrefix} to {@code to}. {@code beforeConvert} runs between
     * the qcow2 and {@code qemu-img convert} (a progress line is finished before qemu-img prints).
     */
    public static Result export(Repository repo, String idOrPrefix, String volume, Format format, Path to, int threads,
                                Duration lockWait, Progress progress, Runnable beforeConvert) throws IOException {
        BackupStore store = BackupStore.of(repo);
        String backup = store.resolve(idOrPrefix);
        Manifest m = store.manifest(backup);
        Manifest.VolumeEntry v = m.volume(volume);
        if (v == null) {
            throw new IllegalArgumentException("backup " + backup + " has no volume " + volume);
        }
        if (Files.exists(to)) {
            throw new IllegalArgumentException(to + " exists");
        }
        try (var lease = repo.readLease("export of backup " + backup)) { // object storage: no sweep under it
            write(repo, backup, m, v, volume, format, to, threads, lockWait, progress, beforeConvert);
        }
        return new Result(backup, volume, to, format, Files.size(to));
    }

    private static void write(Repository repo, String backup, Manifest m, Manifest.VolumeEntry v, String volume,
                              Format format, Path to, int threads, Duration lockWait, Progress progress,
                              Runnable beforeConvert) throws IOException {
        switch (format) {
            case QCOW2 -> Qcow2Writer.write(new RepositoryDevice(repo, m, v), to, progress);
            case RAW -> {
                try (FileDevice d = FileDevice.create(to, v.size())) {
                    Restorer.restore(repo, backup, volume, d, new Restorer.Options(true, false, threads, lockWait),
                            progress);
                }
            }
            case VMDK, VHDX -> {
                Path tmp = to.resolveSibling(to.getFileName() + ".qcow2.tmp");
                try {
                    Qcow2Writer.write(new RepositoryDevice(repo, m, v), tmp, progress);
                    beforeConvert.run();
                    convert(tmp, to, format);
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
        }
    }

    private static void convert(Path qcow2, Path to, Format format) throws IOException {
        Process proc = new ProcessBuilder("qemu-img", "convert", "-f", "qcow2", "-O", format.wireName(),
                qcow2.toString(), to.toString()).inheritIO().start();
        try {
            if (proc.waitFor() != 0) {
                throw new IOException("qemu-img convert to " + format.wireName() + " failed (exit " + proc.exitValue()
                        + ")");
            }
        } catch (InterruptedException e) {
            proc.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while converting to " + format.wireName(), e);
        }
    }
}
