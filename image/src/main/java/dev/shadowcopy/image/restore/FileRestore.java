package dev.shadowcopy.image.restore;

import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.volume.FileDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * {@code restore … --to FILE|DEVICE}: a volume of a backup point into a file or a block device, by this process (no
 * daemon needed). A file is written under {@code .NAME.restoring-PID} and renamed into place once complete and
 * durable (the rename too), so a restore that fails or is interrupted (Ctrl-C, SIGTERM: a shutdown hook removes
 * it) never leaves a partial file under the target's name. A block device is written in place (it cannot be
 * renamed); a failure there says that it holds a mix of old and restored data.
 */
public final class FileRestore {
    /** What was restored: the backup id the request resolved to, where, and the restorer's figures. */
    public record Result(String backup, String volume, Path target, Restorer.Result restore) {}

    private FileRestore() {}

    /**
     * Restores volume {@code volume} of backup {@code idOrPrefix} to {@code target}; an existing target only with
     * {@code force}. With {@code verify} the target is read back and checked.
     */
    public static Result restore(Repository repo, String idOrPrefix, String volume, Path target, boolean force,
                                 boolean verify, int threads, Progress progress) throws IOException {
        BackupStore store = BackupStore.of(repo);
        String backup = store.resolve(idOrPrefix);
        Manifest m = store.manifest(backup);
        Manifest.VolumeEntry v = m.volume(volume);
        if (v == null) {
            throw new IllegalArgumentException("backup " + backup + " has no volume " + volume);
        }
        Path to = target.toAbsolutePath();
        if (Files.exists(to) && !force) {
            throw new IllegalArgumentException(to + " exists; add --force to overwrite it");
        }
        Storage storage = LocalStorage.INSTANCE;
        boolean fresh = !Files.exists(to) || Files.isRegularFile(to);
        Path written = fresh ? to.resolveSibling("." + to.getFileName() + ".restoring-" + ProcessHandle.current().pid())
                : to;
        Thread cleanup = fresh ? Thread.ofPlatform().unstarted(() -> deleteQuietly(written)) : null;
        Restorer.Result res;
        boolean done = false;
        try {
            if (cleanup != null) {
                Runtime.getRuntime().addShutdownHook(cleanup); // Ctrl-C or SIGTERM: no partial file left either
            }
            try (FileDevice dev = fresh ? FileDevice.create(written, v.size()) : FileDevice.open(to, false)) {
                res = Restorer.restore(repo, backup, volume, dev, new Restorer.Options(fresh, verify, threads,
                        Duration.ofMinutes(10)), progress);
            }
            if (fresh) {
                storage.rename(written, to);
                storage.syncDirectory(to.getParent()); // the rename is durable before we say "restored"
            }
            done = true;
        } catch (IOException | RuntimeException e) {
            if (!fresh) {
                throw new IOException("restore into " + to + " failed part way; the device holds a mix of old "
                        + "and restored data, restore it again: " + e.getMessage(), e);
            }
            throw e;
        } finally {
            if (fresh && !done) {
                deleteQuietly(written);
            }
            if (cleanup != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(cleanup);
                } catch (IllegalStateException e) {
                    // the JVM is shutting down: the hook runs and deletes the temporary file
                }
            }
        }
        return new Result(backup, volume, to, res);
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            System.err.println("shadowcopy: could not remove the partial restore " + p + ": " + e.getMessage());
        }
    }
}
