package dev.shadowcopy.attach;

import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.attach.sys.LinuxException;
import dev.shadowcopy.platform.Programs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Mounting file systems the service mounts itself (exposed and auto-recovered copies), and who uses them. */
public final class Mounts {
    private Mounts() {}

    /**
     * Mounts {@code device} on {@code mountPoint} with {@code options} (e.g. "ro"). A missing mount point is made
     * with its missing parents, each 0755 whatever the umask (as {@code mkdir -p} under umask 022): a mount point
     * re-made after a reboot (a Samba snapshot directory in /run) must be as reachable as the first time.
     */
    public static void mount(String device, Path mountPoint, String options) throws IOException {
        java.util.List<Path> missing = new ArrayList<>();
        for (Path p = mountPoint.toAbsolutePath(); p != null && !Files.exists(p); p = p.getParent()) {
            missing.addFirst(p);
        }
        for (Path p : missing) {
            try {
                Files.createDirectory(p);
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                continue; // made meanwhile by someone else: theirs to set
            }
            Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        List<String> cmd = new ArrayList<>(List.of("mount"));
        if (!options.isEmpty()) {
            cmd.addAll(List.of("-o", options));
        }
        cmd.addAll(List.of(device, mountPoint.toString()));
        run(cmd);
    }

    /**
     * Options for a read-only mount of a copy of a file system: {@code ro}, and for XFS also {@code nouuid} (XFS
     * refuses a second mount of a file system whose UUID is mounted already, and a copy has the original's).
     */
    public static String readOnlyOptions(String device) throws IOException {
        return "xfs".equals(fileSystemType(device)) ? "ro,nouuid" : "ro";
    }

    /** The file system type on {@code device} as blkid probes it ("ext4", "xfs", "btrfs"), or null if none. */
    public static String fileSystemType(String device) throws IOException {
        Programs.Result r = Programs.run(Duration.ofSeconds(60), "blkid", "-p", "-o", "value", "-s", "TYPE", device);
        if (r.timedOut()) {
            throw new IOException("blkid " + device + " did not finish within 60 s");
        }
        String out = r.output().strip();
        return r.exit() == 0 && !out.isEmpty() ? out : null;
    }

    /** True if something is mounted exactly on {@code mountPoint}. */
    public static boolean isMountPoint(Path mountPoint) throws IOException {
        String target = mountPoint.toAbsolutePath().normalize().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String[] f = line.split(" ");
            if (f.length > 4 && dev.shadowcopy.attach.loop.DeviceUsers.unescape(f[4]).equals(target)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Unmounts {@code mountPoint}. Refused with {@link InUseException} naming the processes that use it while
     * it is busy, unless {@code force}: then it is detached lazily (gone from the tree now, released when its
     * last user lets go).
     */
    public static void unmount(Path mountPoint, boolean force, String what) throws IOException {
        if (Linux.umount2(mountPoint.toString(), 0) == 0) {
            return;
        }
        int e = Linux.errno();
        if (e == Linux.EINVAL || e == Linux.ENOENT) {
            return; // not mounted
        }
        if (e == Linux.EBUSY && force) {
            if (Linux.umount2(mountPoint.toString(), Linux.MNT_DETACH) != 0) {
                throw Linux.fail("umount -l", mountPoint.toString());
            }
            return;
        }
        if (e == Linux.EBUSY) {
            List<String> users = usersOf(mountPoint);
            throw new InUseException(what, mountPoint.toString(), users.isEmpty()
                    ? List.of("busy: a process has a file or its working directory there") : users,
                    "Close those files or leave that directory first, or use --force (the mount is then detached "
                    + "lazily: processes that use it keep it until they let go).");
        }
        throw new LinuxException("umount", mountPoint.toString(), e);
    }

    /** Processes with an open file, working directory or root under {@code mountPoint}. */
    public static List<String> usersOf(Path mountPoint) throws IOException {
        String prefix = mountPoint.toAbsolutePath().normalize().toString();
        Set<String> out = new LinkedHashSet<>();
        long self = ProcessHandle.current().pid();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString()
                .chars().allMatch(Character::isDigit))) {
            for (Path proc : procs) {
                if (Long.parseLong(proc.getFileName().toString()) == self) {
                    continue;
                }
                List<Path> links = new ArrayList<>(List.of(proc.resolve("cwd"), proc.resolve("root")));
                try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
                    fds.forEach(links::add);
                } catch (IOException | SecurityException e) {
                    continue;
                }
                for (Path l : links) {
                    try {
                        String t = Files.readSymbolicLink(l).toString();
                        if (t.equals(prefix) || t.startsWith(prefix + "/")) {
                            out.add("used by pid " + proc.getFileName() + " (" + comm(proc) + ")");
                            break;
                        }
                    } catch (IOException e) {
                        // gone meanwhile
                    }
                }
            }
        }
        return List.copyOf(out);
    }

    private static String comm(Path proc) {
        try {
            return Files.readAllLines(proc.resolve("comm")).getFirst().strip();
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    static void run(List<String> cmd) throws IOException {
        Programs.check(Duration.ofSeconds(120), cmd);
    }
}
