package dev.shadowcopy.service.versions;

import dev.shadowcopy.platform.Programs;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;

/**
 * Copies a file or directory tree out of a read-only copy into place, keeping what {@code cp -a} keeps: content,
 * mode, owner, times, extended attributes, symbolic and hard links. Durability order: the copy is written under
 * a temporary name beside the target ({@code .NAME.restoring-PID}), its file system synced, then renamed into
 * place and the directory synced; an interrupted copy never leaves a partial file under the target's name (a
 * replaced directory is moved aside first, then deleted).
 */
public final class CopyBack {
    private CopyBack() {}

    /**
     * Copies {@code from} to {@code target}. An existing target is refused unless {@code overwrite}. Returns
     * whether a target was replaced.
     */
    public static boolean copy(Path from, Path target, boolean overwrite) throws IOException {
        boolean exists = Files.exists(target, LinkOption.NOFOLLOW_LINKS);
        if (exists && !overwrite) {
            throw new FileAlreadyExistsException(target.toString(), null, "it exists; restore elsewhere with --to "
                    + "DEST, or replace it with --overwrite");
        }
        Path dir = target.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new java.nio.file.NoSuchFileException(String.valueOf(dir), null, "the directory to restore into "
                    + "does not exist");
        }
        long pid = ProcessHandle.current().pid();
        Path tmp = dir.resolve("." + target.getFileName() + ".restoring-" + pid);
        Path old = dir.resolve("." + target.getFileName() + ".replaced-" + pid);
        deleteTree(tmp);
        try {
            run("cp", "-a", "--", from.toString(), tmp.toString());
            run("sync", "-f", tmp.toString()); // durable before it takes the target's name
            if (exists && Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE); // a directory cannot be renamed over
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            run("sync", "-f", dir.toString()); // the rename is durable on return
        } finally {
            deleteTree(tmp);
            deleteTree(old);
        }
        return exists;
    }

    private static void deleteTree(Path p) throws IOException {
        if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            run("rm", "-rf", "--one-file-system", "--", p.toString());
        }
    }

    private static void run(String... cmd) throws IOException {
        Programs.check(Duration.ofHours(6), cmd);
    }
}
