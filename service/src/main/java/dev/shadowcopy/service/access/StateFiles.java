package dev.shadowcopy.service.access;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The file modes of the state directory, which hold the doors' first lock. Everything the daemon creates is
 * private (umask 077); the directory is 0700, or 0710 with the operators' group (members may reach the sockets by
 * name, not list or read anything); the sockets are 0660 with that group.
 */
public final class StateFiles {
    private StateFiles() {}

    /** From now on, files and directories this process creates are readable by its user only. */
    public static void privateByDefault() {
        Posix.umask(0077);
    }

    /** Sets the state directory's mode and group, and takes group and other bits off what is directly in it. */
    public static void secureStateDirectory(Path state, GroupPrincipal group) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(state, PosixFileAttributeView.class);
        if (group != null) {
            view.setGroup(group);
        }
        view.setPermissions(PosixFilePermissions.fromString(group == null ? "rwx------" : "rwx--x---"));
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(state)) {
            for (Path p : entries) {
                if (Files.isSymbolicLink(p) || isSocket(p)) {
                    continue; // sockets get their own modes; a link's mode is its target's business
                }
                Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
                if (perms.removeAll(Set.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
                        PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
                        PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE))) {
                    Files.setPosixFilePermissions(p, perms); // left open by an older version: close it
                }
            }
        }
    }

    /** A socket the operators' group may use: mode 0660, group {@code group} (if any). */
    public static void shareSocket(Path socket, GroupPrincipal group) throws IOException {
        Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
        if (group != null) {
            Files.getFileAttributeView(socket, PosixFileAttributeView.class).setGroup(group);
        }
    }

    private static boolean isSocket(Path p) throws IOException {
        return Files.readAttributes(p, "unix:mode", LinkOption.NOFOLLOW_LINKS).get("mode") instanceof Integer m
                && (m & 0170000) == 0140000;
    }
}
