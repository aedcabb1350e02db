package dev.shadowcopy.service.backup;

import dev.shadowcopy.image.manifest.Verdicts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A file system of a backup point checked read-only by its own tool, on a loop device over a throw-away overlay of
 * the point: {@code e2fsck -fn} (ext2/3/4), {@code xfs_repair -n} (XFS), {@code btrfs check --readonly} (btrfs). A
 * journal or log that needs replaying first (a crash-consistent backup of a mounted file system) is replayed by
 * mounting the file system once on the overlay — the backup itself is never written.
 *
 * <p>A volume whose file system the backup recorded (it was mounted, or recognised, when it was backed up) and on
 * which none is found now fails: a wrecked superblock must not pass as "no file system".
 */
final class FileSystemCheck {
    private static final Duration LIMIT = Duration.ofMinutes(30);

    private FileSystemCheck() {}

    /** The type {@code blkid} sees on {@code device} ("ext4", "xfs" …), or null. */
    static String typeOf(String device) throws IOException {
        Program p = Program.run(Duration.ofSeconds(30), "blkid", "-p", "-o", "value", "-s", "TYPE", device);
        String t = p.output().strip();
        return p.ok() && !t.isEmpty() ? t : null;
    }

    /**
     * Checks the file system on {@code device} (volume {@code volume}); {@code expected} is the type the backup
     * recorded, or null; {@code scratch} is an empty directory for a replay mount.
     */
    static Verdicts.Check check(String volume, String device, String expected, Path scratch) throws IOException {
        String what = "file system of volume " + volume;
        String type = typeOf(device);
        if (type == null) {
            return expected == null
                    ? new Verdicts.Check(what, "blkid", true, "no file system on it (raw data): not checked")
                    : new Verdicts.Check(what, "blkid", false, "the backup holds no recognisable file system, but "
                    + "the volume held " + expected + " when it was backed up: it is wrecked");
        }
        if (expected != null && !expected.equals(type)) {
            return new Verdicts.Check(what, "blkid", false, "the volume held " + expected + " when it was backed up, "
                    + "the backup holds " + type);
        }
        List<String> tool = switch (type) {
            case "ext2", "ext3", "ext4" -> List.of("e2fsck", "-f", "-n", device);
            case "xfs" -> List.of("xfs_repair", "-n", device);
            case "btrfs" -> List.of("btrfs", "check", "--readonly", device);
            default -> null;
        };
        if (tool == null) {
            return new Verdicts.Check(what, "blkid", true, type + ": no checker known for it, not checked");
        }
        if (!Program.exists(tool.getFirst())) {
            return new Verdicts.Check(what, String.join(" ", tool), false, tool.getFirst() + " is not installed: the "
                    + type + " file system cannot be checked (install e2fsprogs, xfsprogs or btrfs-progs)");
        }
        String toolText = String.join(" ", tool.subList(0, tool.size() - 1));
        if (needsReplay(type, device)) {
            Program r = replay(type, device, scratch);
            if (!r.ok()) {
                return new Verdicts.Check(what, "mount", false, type + ": its journal needs replaying and the file "
                        + "system does not mount to replay it: " + r.tail(3));
            }
        }
        Program p = Program.run(LIMIT, tool);
        if (!p.ok() && type.equals("xfs") && p.output().contains("metadata changes in a log")) {
            // xfs_repair -n ignores a dirty log and reports what it would replay: replay it on the overlay, check again
            Program r = replay(type, device, scratch);
            if (!r.ok()) {
                return new Verdicts.Check(what, "mount", false, "xfs: its log needs replaying and the file system "
                        + "does not mount to replay it: " + r.tail(3));
            }
            p = Program.run(LIMIT, tool);
        }
        return p.ok() ? new Verdicts.Check(what, toolText, true, type + " clean")
                : new Verdicts.Check(what, toolText, false, type + ": " + toolText + " exited " + p.exit() + ": "
                + p.tail(6));
    }

    /**
     * The mount command for a copy of a file system of {@code type}: XFS refuses a second file system with the UUID of
     * one already mounted (the original usually is), {@code nouuid} lets the copy mount beside it. The copy's content
     * is the backed-up host's: {@code nosuid,nodev,noexec}, so that no set-uid program or device node of it can be
     * used by a local user while it is mounted.
     */
    static List<String> mount(String type, String device, Path target) {
        String opts = "nosuid,nodev,noexec" + (type.equals("xfs") ? ",nouuid" : "");
        return List.of("mount", "-t", type, "-o", opts, device, target.toString());
    }

    /** An ext journal with transactions to recover (a crash-consistent copy of a mounted ext3/4). */
    private static boolean needsReplay(String type, String device) throws IOException {
        if (!type.startsWith("ext")) {
            return false;
        }
        Program p = Program.run(Duration.ofSeconds(60), "dumpe2fs", "-h", device);
        return p.output().lines().anyMatch(l -> l.startsWith("Filesystem features:") && l.contains("needs_recovery"));
    }

    /** Mounts the file system once on the overlay, which replays its journal or log there, and unmounts it. */
    private static Program replay(String type, String device, Path scratch) throws IOException {
        Files.createDirectories(scratch);
        Program m = Program.run(Duration.ofMinutes(5), mount(type, device, scratch));
        if (!m.ok()) {
            return m;
        }
        return Program.run(Duration.ofMinutes(5), "umount", scratch.toString());
    }
}
