package dev.shadowcopy.service.versions;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Explorer's Previous Versions tab: the distinct versions of a file or directory tree across the shadow copies
 * of the volume it is on, and restoring one of them.
 *
 * <p>A version is what a copy holds at the path: its type, size, mtime, mode, owner and a SHA-256 of its content
 * (for a directory, of its whole tree: every entry's relative path, type, mode, owner, size, mtime and content
 * hash, in name order). Copies holding the same content (same type and hash) are one version, listed under the
 * newest copy that holds it, with every copy that does; copies where the path does not exist add nothing. Cost:
 * every version is read in full (a hash cannot be had cheaper), one copy at a time.
 *
 * <p>A restore copies the version with {@code cp -a} (content, mode, owner, times, extended attributes, links;
 * a directory recursively) to a temporary name beside the target, syncs the file system, and renames it into
 * place: an interrupted restore never leaves a partial file under the target's name. The default target is
 * beside the original, {@code NAME (YYYY-MM-DD HHMM)} with the copy's local time; an existing target is only
 * replaced with {@code overwrite}.
 */
public final class Versions {
    private static final DateTimeFormatter SUFFIX = DateTimeFormatter.ofPattern("yyyy-MM-dd HHmm");

    private final VersionsHost host;
    private final CopyMounts mounts;

    public Versions(VersionsHost host, CopyMounts mounts) {
        this.host = host;
        this.mounts = mounts;
    }

    /** One distinct version. {@code copies}: every copy holding it, newest first; {@code shadow} is the first. */
    public record Version(String shadow, Instant created, List<String> copies, String type, long size, Instant mtime,
                          String mode, int uid, int gid, String sha256, boolean current) {}

    /** A copy whose file system could not be read (mounted), and why. */
    public record Skipped(String shadow, Instant created, String reason) {}

    /** The versions of a path, newest first, and the copies that could not be read. */
    public record Listing(Path path, String volume, Path mountPoint, String relative, List<Version> versions,
                          List<Skipped> skipped) {}

    /** What a restore did. */
    public record Restored(Path path, String shadow, Path from, Path to, boolean replaced) {}

    public Listing list(Path path) throws IOException {
        VersionsHost.Located at = host.locate(path);
        List<VersionsHost.Copy> copies = new ArrayList<>(host.copies(at.volume()));
        copies.sort((a, b) -> b.created().compareTo(a.created()));
        Path live = path;
        String liveHash = Files.exists(live, LinkOption.NOFOLLOW_LINKS) ? describe(live).sha256() : null;
        Map<String, Version> byContent = new LinkedHashMap<>();
        List<Skipped> skipped = new ArrayList<>();
        for (VersionsHost.Copy c : copies) {
            CopyMounts.Lease lease;
            try {
                lease = mounts.open(c);
            } catch (IOException e) {
                // e.g. a copy taken before the file system was made: the other copies still answer
                skipped.add(new Skipped(c.id(), c.created(), e.getMessage()));
                continue;
            }
            try (lease) {
                Path p = inside(lease.tree(), at.relative());
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                Version v = describe(p);
                String key = v.type() + ":" + v.sha256();
                Version seen = byContent.get(key);
                if (seen == null) {
                    byContent.put(key, new Version(c.id(), c.created(), List.of(c.id()), v.type(), v.size(), v.mtime(),
                            v.mode(), v.uid(), v.gid(), v.sha256(), v.sha256().equals(liveHash)));
                } else {
                    List<String> ids = new ArrayList<>(seen.copies());
                    ids.add(c.id());
                    byContent.put(key, new Version(seen.shadow(), seen.created(), ids, seen.type(), seen.size(),
                            seen.mtime(), seen.mode(), seen.uid(), seen.gid(), seen.sha256(), seen.current()));
                }
            }
        }
        return new Listing(path, at.volume(), at.mountPoint(), at.relative(), List.copyOf(byContent.values()),
                List.copyOf(skipped));
    }

    /**
     * Copies the version of {@code path} in copy {@code shadowId} to {@code to} (null: beside the original as
     * {@code NAME (YYYY-MM-DD HHMM)}; an existing directory: into it under the original's name).
     */
    public Restored restore(Path path, String shadowId, Path to, boolean overwrite) throws IOException {
        VersionsHost.Located at = host.locate(path);
        VersionsHost.Copy c = host.copy(shadowId);
        if (!c.volume().equals(at.volume())) {
            throw new IllegalArgumentException("shadow copy " + c.id() + " is of volume " + c.volume() + ", but " + path
                    + " is on volume " + at.volume() + " (see 'shadowcopy versions " + path + "')");
        }
        String name = at.relative().isEmpty() ? at.volume() : Path.of(at.relative()).getFileName().toString();
        Path target;
        if (to == null) {
            target = path.resolveSibling(name + " (" + SUFFIX.format(c.created().atZone(ZoneId.systemDefault())) + ")");
        } else if (Files.isDirectory(to) && !Files.isSymbolicLink(to)) {
            target = to.resolve(name);
        } else {
            target = to;
        }
        try (CopyMounts.Lease lease = mounts.open(c)) {
            Path from = inside(lease.tree(), at.relative());
            if (!Files.exists(from, LinkOption.NOFOLLOW_LINKS)) {
                throw new NoSuchFileException(path.toString(), null, "it did not exist in shadow copy " + c.id()
                        + " (taken " + c.created() + "); 'shadowcopy versions " + path + "' lists the copies that hold it");
            }
            boolean exists = CopyBack.copy(from, target, overwrite);
            host.event("version-restored", "info", path + " restored from shadow copy " + c.id() + " to " + target,
                    Map.of("shadow", c.id(), "path", path.toString(), "to", target.toString()));
            return new Restored(path, c.id(), from, target, exists);
        }
    }

    /** {@code relative} under {@code tree}, refusing anything that would leave it. */
    private static Path inside(Path tree, String relative) {
        Path p = tree.resolve(relative).normalize();
        if (!p.startsWith(tree)) {
            throw new IllegalArgumentException("path " + relative + " leaves the copy's file tree");
        }
        return p;
    }

    private static Version describe(Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,size,lastModifiedTime",
                LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) a.get("mode");
        String type = Files.isSymbolicLink(p) ? "symlink" : Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)
                ? "directory" : Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) ? "file" : "special";
        MessageDigest d = sha256();
        long size = hash(p, p, d);
        return new Version(null, null, List.of(), type, type.equals("directory") ? size : (Long) a.get("size"),
                ((java.nio.file.attribute.FileTime) a.get("lastModifiedTime")).toInstant(),
                String.format("%04o", mode & 07777), (Integer) a.get("uid"), (Integer) a.get("gid"),
                HexFormat.of().formatHex(d.digest()), false);
    }

    /** Feeds {@code p} (recursively for a directory) into {@code d}; returns the bytes of file content hashed. */
    private static long hash(Path base, Path p, MessageDigest d) throws IOException {
        if (Files.isSymbolicLink(p)) {
            d.update(("L" + Files.readSymbolicLink(p)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return 0;
        }
        if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
            long n = 0;
            byte[] buf = new byte[1 << 16];
            try (InputStream in = Files.newInputStream(p)) {
                int r;
                while ((r = in.read(buf)) > 0) {
                    d.update(buf, 0, r);
                    n += r;
                }
            }
            return n;
        }
        if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            return 0;
        }
        long total = 0;
        List<Path> entries;
        try (Stream<Path> s = Files.list(p)) {
            entries = s.sorted().toList();
        }
        for (Path e : entries) {
            Map<String, Object> a = Files.readAttributes(e, "unix:mode,uid,gid,size,lastModifiedTime",
                    LinkOption.NOFOLLOW_LINKS);
            MessageDigest inner = sha256();
            total += hash(base, e, inner);
            String line = base.relativize(e) + "\0" + a.get("mode") + "\0" + a.get("uid") + "\0" + a.get("gid") + "\0"
                    + (Files.isDirectory(e, LinkOption.NOFOLLOW_LINKS) ? 0 : a.get("size")) + "\0"
                    + a.get("lastModifiedTime") + "\0" + HexFormat.of().formatHex(inner.digest()) + "\n";
            d.update(line.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        return total;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
