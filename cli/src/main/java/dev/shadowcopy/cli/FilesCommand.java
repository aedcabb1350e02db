package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.attach.ScratchMount;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.image.restore.RepositoryDevice;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.versions.CopyBack;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code files ls|cat|restore}: files of a backup point without restoring the volume. The backup is served from the
 * repository and its file system mounted read-only through a throw-away overlay ({@link ScratchMount}); needs root
 * (loop devices, FUSE), no daemon.
 */
@Command(name = "files", mixinStandardHelpOptions = true, description = "Files of a backup point, read in place "
        + "(ext4, XFS, btrfs): ls, cat, restore. Needs root; no daemon.", subcommands = {FilesCommand.Ls.class,
            FilesCommand.Cat.class, FilesCommand.Restore.class})
final class FilesCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    /** What every files command takes, and the mount it works in. */
    abstract static class Base implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "BACKUP", description = "Backup id, unique prefix, or latest.")
        String backup;

        @Parameters(index = "1", paramLabel = "PATH", defaultValue = "/", description = "Path inside the volume's "
                + "file system.")
        String path;

        @Option(names = "--volume", required = true, paramLabel = "VOL")
        String volume;

        @Mixin
        BackupsCommand.RepoOptions r;

        @Override
        public final Integer call() throws Exception {
            Repository repo = r.open();
            BackupStore store = BackupStore.of(repo);
            String id = store.resolve(backup);
            Manifest m = store.manifest(id);
            Manifest.VolumeEntry v = m.volume(volume);
            if (v == null) {
                throw new IllegalArgumentException("backup " + id + " has no volume " + volume + " (it has "
                        + String.join(", ", m.volumes().stream().map(Manifest.VolumeEntry::name).toList()) + ")");
            }
            try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.SHARED, BackupsCommand.LOCK_WAIT, "reading files");
                 ScratchMount mount = ScratchMount.open(new RepositoryDevice(repo, m, v),
                         Path.of(System.getProperty("java.io.tmpdir")))) {
                Thread hook = new Thread(() -> {
                    try {
                        mount.close(); // Ctrl-C: nothing stays mounted
                    } catch (IOException e) {
                        System.err.println("shadowcopy: cleanup: " + e.getMessage());
                    }
                });
                Runtime.getRuntime().addShutdownHook(hook);
                try {
                    return run(mount.root(), inside(mount.root(), path), id);
                } finally {
                    Runtime.getRuntime().removeShutdownHook(hook);
                }
            }
        }

        abstract int run(Path root, Path file, String backupId) throws Exception;

        /** {@code path} inside the mounted tree; symbolic links are followed only while they stay inside it. */
        static Path inside(Path root, String path) throws IOException {
            Path p = root.resolve(path.replaceFirst("^/+", "")).normalize();
            if (!p.startsWith(root)) {
                throw new IllegalArgumentException(path + " leaves the volume's file system");
            }
            if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                throw new NoSuchFileException(path, null, "not in the backup's file system");
            }
            return p;
        }

        static Path followed(Path root, Path p, String path) throws IOException {
            Path real = p.toRealPath();
            if (!real.startsWith(root.toRealPath())) {
                throw new IllegalArgumentException(path + " is a symbolic link that leads outside the backup's file "
                        + "system (to " + Files.readSymbolicLink(p) + "); restore the link itself with 'files restore'");
            }
            return real;
        }
    }

    @Command(name = "ls", mixinStandardHelpOptions = true, description = "Lists a directory of the backup (or shows "
            + "one file).")
    static final class Ls extends Base {
        @Option(names = "--json", description = "Print JSON.")
        boolean json;

        @Override
        int run(Path root, Path p, String id) throws Exception {
            List<Path> entries;
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                try (Stream<Path> s = Files.list(p)) {
                    entries = s.sorted().toList();
                }
            } else {
                entries = List.of(p);
            }
            ArrayNode a = Json.MAPPER.createArrayNode();
            Table t = new Table("TYPE", "MODE", "OWNER", "SIZE", "MODIFIED", "NAME");
            for (Path e : entries) {
                Map<String, Object> at = Files.readAttributes(e, "unix:mode,uid,gid,size,lastModifiedTime",
                        LinkOption.NOFOLLOW_LINKS);
                String type = Files.isSymbolicLink(e) ? "link" : Files.isDirectory(e, LinkOption.NOFOLLOW_LINKS)
                        ? "dir" : Files.isRegularFile(e, LinkOption.NOFOLLOW_LINKS) ? "file" : "other";
                String name = e.equals(root) ? "/" : e.getFileName().toString() + (type.equals("link")
                        ? " -> " + Files.readSymbolicLink(e) : "");
                String mode = String.format("%04o", (Integer) at.get("mode") & 07777);
                String mtime = ((FileTime) at.get("lastModifiedTime")).toInstant().toString();
                ObjectNode o = a.addObject().put("name", e.equals(root) ? "/" : e.getFileName().toString())
                        .put("type", type).put("mode", mode).put("uid", (Integer) at.get("uid"))
                        .put("gid", (Integer) at.get("gid")).put("size", (Long) at.get("size")).put("mtime", mtime);
                if (type.equals("link")) {
                    o.put("target", Files.readSymbolicLink(e).toString());
                }
                t.row(type, mode, at.get("uid") + ":" + at.get("gid"), at.get("size"), Format.time(o.get("mtime")), name);
            }
            if (json) {
                ObjectNode o = Json.object().put("backup", id).put("volume", volume).put("path", path);
                o.set("entries", a);
                Format.json(System.out, o);
            } else {
                t.print(System.out);
            }
            return 0;
        }
    }

    @Command(name = "cat", mixinStandardHelpOptions = true, description = "Writes a file of the backup to stdout.")
    static final class Cat extends Base {
        @Override
        int run(Path root, Path p, String id) throws Exception {
            Path f = followed(root, p, path);
            if (!Files.isRegularFile(f)) {
                throw new IllegalArgumentException(path + " is not a regular file (use 'files ls')");
            }
            Files.copy(f, System.out);
            System.out.flush();
            return 0;
        }
    }

    @Command(name = "restore", mixinStandardHelpOptions = true, description = "Copies a file or directory tree out "
            + "of the backup, keeping mode, owner, times and extended attributes (written under a temporary name, "
            + "renamed into place once durable).")
    static final class Restore extends Base {
        @Option(names = "--to", paramLabel = "DEST", description = "Target path, or a directory to restore into "
                + "(default: the current directory).")
        Path to;

        @Option(names = "--overwrite", description = "Replace an existing target.")
        boolean overwrite;

        @Override
        int run(Path root, Path p, String id) throws Exception {
            Path dest = to == null ? Path.of("").toAbsolutePath() : to.toAbsolutePath().normalize();
            String name = p.equals(root) ? volume : p.getFileName().toString();
            Path target = Files.isDirectory(dest) ? dest.resolve(name) : dest;
            boolean replaced = CopyBack.copy(p, target, overwrite);
            System.out.println("Restored " + path + " of volume " + volume + " from backup " + id + " to " + target
                    + (replaced ? " (replaced)" : ""));
            return 0;
        }
    }
}
