package dev.shadowcopy.service.backup;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A database's data directory on the mounted copy of a backup point, found from its path on the original host and
 * kept inside the copy.
 *
 * <p>Why confinement: the copy is the original host's file system, so its symbolic links name the original host's
 * paths — PostgreSQL's {@code pg_wal} and tablespaces on another volume, a MariaDB database directory moved
 * elsewhere. Started as they are, a server on the copy would replay into and write over the <em>live</em> server's
 * files. Each link that leads into a volume of the point is pointed at that volume's mounted copy instead (the copy
 * lies on a throw-away overlay, so this changes nothing in the backup); a link that leads anywhere else stops the
 * database from being started.
 */
final class DataDirectory {
    private DataDirectory() {}

    /**
     * Where {@code original} (a path on the original host) is on the mounted copy: relative to the volume's recorded
     * mount point; else the longest tail of it that exists on the copy. Null when it is not there, or when the path on
     * the copy leads out of it (a symbolic link, or {@code ..}).
     */
    static Path locate(Path original, String mountPoint, Path mounted) throws IOException {
        Path o = original.normalize();
        if (!o.isAbsolute() || o.toString().contains("..")) {
            return null;
        }
        Path found = null;
        if (mountPoint != null && o.startsWith(mountPoint)) {
            found = mounted.resolve(Path.of(mountPoint).relativize(o).toString());
        } else {
            for (int i = 0; i < o.getNameCount() && found == null; i++) {
                Path p = mounted.resolve(o.subpath(i, o.getNameCount()).toString());
                found = Files.isDirectory(p) ? p : null;
            }
        }
        if (found == null || !Files.isDirectory(found)) {
            return null;
        }
        return found.toRealPath().startsWith(mounted.toRealPath()) ? found : null;
    }

    /**
     * Points every symbolic link in {@code data} and in its {@code pg_tblspc} at the copy it means: {@code copies}
     * maps each volume's mount point on the original host to its mounted copy; {@code mounted} are all the mounted
     * copies of the point. Returns what could not be confined (empty when the directory is safe to start a server
     * on): a link that, followed to its end, is not inside a mounted copy, even after being pointed at one.
     */
    static List<String> confine(Path data, Map<Path, Path> copies, List<Path> mounted) throws IOException {
        List<Path> roots = new ArrayList<>();
        for (Path m : mounted) {
            roots.add(m.toRealPath());
        }
        List<String> problems = new ArrayList<>();
        List<Path> dirs = new ArrayList<>(List.of(data));
        if (Files.isDirectory(data.resolve("pg_tblspc"), LinkOption.NOFOLLOW_LINKS)) {
            dirs.add(data.resolve("pg_tblspc"));
        }
        for (Path dir : dirs) {
            List<Path> links = new ArrayList<>();
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                for (Path e : entries) {
                    if (Files.isSymbolicLink(e)) {
                        links.add(e);
                    }
                }
            }
            for (Path link : links) {
                if (!escapes(link, roots)) {
                    continue; // within the copy already (a relative link, or one made by an earlier check)
                }
                Path target = Files.readSymbolicLink(link);
                Path mapped = map(target.normalize(), copies);
                if (mapped != null) {
                    Files.delete(link); // on the throw-away overlay
                    Files.createSymbolicLink(link, mapped);
                    if (!escapes(link, roots)) {
                        continue;
                    }
                }
                problems.add(data.relativize(link) + " -> " + target + " leads out of the backup's volumes");
            }
        }
        return problems;
    }

    /** Whether {@code link}, followed to its end, is missing or outside every root. */
    private static boolean escapes(Path link, List<Path> roots) throws IOException {
        if (!Files.exists(link)) {
            return true;
        }
        Path real = link.toRealPath();
        for (Path r : roots) {
            if (real.startsWith(r)) {
                return false;
            }
        }
        return true;
    }

    /** {@code target} (absolute, on the original host) on the copy of the volume mounted there, or null. */
    private static Path map(Path target, Map<Path, Path> copies) {
        if (!target.isAbsolute() || target.toString().contains("..")) {
            return null;
        }
        Path best = null;
        for (Path mountPoint : copies.keySet()) {
            if (target.startsWith(mountPoint) && (best == null || mountPoint.getNameCount() > best.getNameCount())) {
                best = mountPoint;
            }
        }
        return best == null ? null : copies.get(best).resolve(best.relativize(target).toString());
    }
}
