package dev.shadowcopy.service.access;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What operators (members of the daemon's {@code --group}) may work on: {@code STATE/config.json}, written by
 * the administrator and read when the daemon starts. Absent file: operators may work on nothing.
 *
 * <pre>{@code
 * {"operators": {
 *    "volumes":      ["data", "db"],          // managed volumes (and their shadow copies)
 *    "repositories": ["/srv/backups"],        // backup repositories: these directories or below
 *    "mount_roots":  ["/mnt/shadowcopy"]}}    // where shadow copies may be exposed: below these
 * }</pre>
 *
 * <p>Checked at start, refusing to start with the reason: unknown keys (a typo would silently grant less or
 * more); the file itself must belong to root or the daemon's user and be writable by nobody else; each root
 * must be an existing directory owned by root or the daemon's user, writable by nobody else, under directories
 * that only their owner can change (sticky directories such as {@code /tmp} allowed). That last rule is what
 * makes path confinement safe against link tricks: an operator cannot create anything inside a root.
 */
public record AccessConfig(Set<String> volumes, List<Path> repositories, List<Path> mountRoots) {
    public static final String FILE = "config.json";
    public static final AccessConfig NONE = new AccessConfig(Set.of(), List.of(), List.of());

    public AccessConfig {
        volumes = Set.copyOf(volumes);
        repositories = List.copyOf(repositories);
        mountRoots = List.copyOf(mountRoots);
    }

    /** Reads {@code STATE/config.json}; {@link #NONE} if there is none. */
    public static AccessConfig load(Path state, Set<UserPrincipal> trusted) throws IOException {
        Path file = state.resolve(FILE);
        if (!Files.exists(file)) {
            return NONE;
        }
        requirePrivate(file, trusted, false);
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new IOException(file + " is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IOException(file + " must hold a JSON object such as {\"operators\": {\"volumes\": [\"data\"]}}");
        }
        onlyKeys(root, file, "operators");
        JsonNode ops = root.path("operators");
        if (ops.isMissingNode()) {
            return NONE;
        }
        if (!ops.isObject()) {
            throw new IOException(file + ": \"operators\" must be an object");
        }
        onlyKeys(ops, file, "volumes", "repositories", "mount_roots");
        Set<String> volumes = new LinkedHashSet<>(strings(ops, "volumes", file));
        List<Path> repositories = roots(strings(ops, "repositories", file), "repositories", file, trusted);
        List<Path> mounts = roots(strings(ops, "mount_roots", file), "mount_roots", file, trusted);
        return new AccessConfig(volumes, repositories, mounts);
    }

    private static void onlyKeys(JsonNode node, Path file, String... allowed) throws IOException {
        Set<String> ok = Set.of(allowed);
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!ok.contains(k)) {
                throw new IOException(file + ": unknown key \"" + k + "\" (expected: " + String.join(", ", allowed) + ")");
            }
        }
    }

    private static List<String> strings(JsonNode ops, String key, Path file) throws IOException {
        JsonNode v = ops.path(key);
        if (v.isMissingNode() || v.isNull()) {
            return List.of();
        }
        if (!v.isArray()) {
            throw new IOException(file + ": \"operators\".\"" + key + "\" must be a list of strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode x : v) {
            if (!x.isTextual() || x.asText().isEmpty()) {
                throw new IOException(file + ": \"operators\".\"" + key + "\" must be a list of non-empty strings");
            }
            out.add(x.asText());
        }
        return out;
    }

    private static List<Path> roots(List<String> raw, String key, Path file, Set<UserPrincipal> trusted)
            throws IOException {
        List<Path> out = new ArrayList<>();
        for (String r : raw) {
            Path p;
            try {
                p = Confinement.canonical(r, key + " entry");
            } catch (IOException e) {
                throw new IOException(file + ": " + e.getMessage());
            }
            if (!Files.isDirectory(p)) {
                throw new IOException(file + ": " + key + " entry " + p + " is not an existing directory; create it "
                        + "(owned by root, mode 0755 or stricter) first");
            }
            requirePrivate(p, trusted, true);
            for (Path up = p.getParent(); up != null; up = up.getParent()) {
                requireUnchangeable(up, p, key, file, trusted);
            }
            out.add(p);
        }
        return out;
    }

    /** {@code p} belongs to a trusted user and only its owner may write to it. */
    private static void requirePrivate(Path p, Set<UserPrincipal> trusted, boolean directory) throws IOException {
        PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!trusted.contains(a.owner())) {
            throw new IOException(p + " belongs to " + a.owner().getName() + "; it must belong to root or the "
                    + "daemon's user (chown root " + p + ")");
        }
        Set<PosixFilePermission> perms = a.permissions();
        if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new IOException(p + " is writable by its group or others, so an operator could change "
                    + (directory ? "what is in it" : "it") + "; chmod go-w " + p);
        }
    }

    private static void requireUnchangeable(Path dir, Path root, String key, Path file, Set<UserPrincipal> trusted)
            throws IOException {
        PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class);
        Set<PosixFilePermission> perms = a.permissions();
        boolean othersMayWrite = perms.contains(PosixFilePermission.GROUP_WRITE)
                || perms.contains(PosixFilePermission.OTHERS_WRITE);
        if (othersMayWrite && !sticky(dir)) {
            throw new IOException(file + ": " + key + " entry " + root + " lies under " + dir + ", which others may "
                    + "change (they could replace " + root + "); chmod go-w " + dir + " or choose another root");
        }
        if (!trusted.contains(a.owner()) && !sticky(dir)) {
            throw new IOException(file + ": " + key + " entry " + root + " lies under " + dir + ", owned by "
                    + a.owner().getName() + ", who could replace it; choose a root under directories owned by root");
        }
    }

    private static boolean sticky(Path dir) throws IOException {
        Object mode = Files.getAttribute(dir, "unix:mode");
        return mode instanceof Integer m && (m & 01000) != 0;
    }
}
