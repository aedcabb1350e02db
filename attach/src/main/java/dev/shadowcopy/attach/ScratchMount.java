package dev.shadowcopy.attach;

import dev.shadowcopy.attach.keep.DescriptorStore;
import dev.shadowcopy.attach.loop.DeviceUsers;
import dev.shadowcopy.attach.loop.LoopDevices;
import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.LocalStorage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The file system of any read-only {@link BlockDevice} (a backup point served from its repository), mounted
 * read-only for the life of this process: what {@code shadowcopy files} reads from without a restore.
 *
 * <p><b>No journal replay into the source.</b> The device is attached through a throw-away {@link OverlayDevice}
 * (a sparse file in the scratch directory, deleted at close), as exposures are: the kernel replays an ext4
 * journal or XFS log into the overlay and the mount shows the file system with those transactions, as it was at
 * the copy's instant. Not {@code ro,noload} / {@code norecovery}: those would show the file system without the
 * transactions still in its journal (recently written files missing or stale, sometimes an inconsistent tree).
 * XFS is mounted with {@code nouuid} (the live file system with the same UUID may be mounted on this machine).
 *
 * <p><b>Only ext2/3/4, XFS and btrfs</b> are mounted: the superblock is probed before anything is attached, and
 * anything else (no file system, a partition table, another file system) is refused with what was found.
 *
 * <p><b>Lifetime.</b> The FUSE connection is held by this process only (nothing outlives it): a killed process
 * leaves a dead mount, which {@link #sweep} — run before each new mount — takes down (owner pid in the
 * directory's name is gone). {@link #close} unmounts (lazily if a process still uses it), detaches, and
 * deletes the scratch directory.
 */
public final class ScratchMount implements AutoCloseable {
    private static final String PREFIX = "shadowcopy-files-";
    private static final String KEY = "files/scratch";

    private final Path dir;
    private final Path root;
    private final Attacher attacher;
    private final OverlayDevice overlay;
    private final String type;
    private boolean closed;

    private ScratchMount(Path dir, Path root, Attacher attacher, OverlayDevice overlay, String type) {
        this.dir = dir;
        this.root = root;
        this.attacher = attacher;
        this.overlay = overlay;
        this.type = type;
    }

    /** The mounted file system's root directory. */
    public Path root() {
        return root;
    }

    /** "ext4", "xfs" or "btrfs". */
    public String type() {
        return type;
    }

    /** Mounts the file system on {@code device} read-only under a new directory in {@code tmp}. */
    public static ScratchMount open(BlockDevice device, Path tmp) throws IOException {
        String type = probe(device);
        sweep(tmp);
        Path dir = Files.createTempDirectory(tmp, PREFIX + ProcessHandle.current().pid() + "-");
        Attacher attacher = new Attacher(dir, new OwnStore());
        OverlayDevice overlay = null;
        Path root = dir.resolve("root");
        boolean attached = false;
        try {
            overlay = OverlayDevice.create(device, LocalStorage.INSTANCE, dir.resolve("overlay.img"),
                    "throw-away layer over " + device.name());
            Attachment a = attacher.attach(KEY, overlay, false);
            attached = true;
            Mounts.mount(a.loopDevice(), root, type.equals("xfs") ? "ro,nouuid" : "ro");
            return new ScratchMount(dir, root, attacher, overlay, type);
        } catch (IOException | RuntimeException e) {
            try {
                Mounts.unmount(root, true, "undo");
                if (attached) {
                    attacher.detach(KEY, true);
                }
                if (overlay != null) {
                    overlay.discard();
                }
                deleteTree(dir);
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new IOException("cannot mount the " + type + " file system of " + device.name() + ": " + e.getMessage(),
                    e);
        }
    }

    /** The file system on {@code device} by its superblock: ext4 (ext2/3 too), xfs, btrfs; refused otherwise. */
    public static String probe(BlockDevice device) throws IOException {
        if (device.size() < 72 * 1024) {
            throw new IOException(device.name() + " is too small (" + device.size() + " bytes) to hold a file system");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(72 * 1024);
            device.read(0, s);
            byte[] b = s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            if ((b[1024 + 56] & 0xff) == 0x53 && (b[1024 + 57] & 0xff) == 0xEF) {
                return "ext4";
            }
            if (new String(b, 0, 4, StandardCharsets.ISO_8859_1).equals("XFSB")) {
                return "xfs";
            }
            if (new String(b, 65536 + 64, 8, StandardCharsets.ISO_8859_1).equals("_BHRfS_M")) {
                return "btrfs";
            }
            String found;
            if (new String(b, 512, 8, StandardCharsets.ISO_8859_1).equals("EFI PART")) {
                found = "a GPT partition table";
            } else if ((b[510] & 0xff) == 0x55 && (b[511] & 0xff) == 0xAA) {
                found = "an MBR partition table or boot sector";
            } else if (allZero(b)) {
                found = "zeros (no file system was made on it)";
            } else {
                found = "no file system this command reads";
            }
            throw new IOException(device.name() + " holds " + found + "; files are read from ext4 (ext2/3), XFS and "
                    + "btrfs file systems on the volume itself. Restore the volume ('shadowcopy restore') and use it "
                    + "with the tools of what it holds");
        }
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /** Takes down what killed processes left in {@code tmp}: their mounts, loop devices and directories. */
    public static void sweep(Path tmp) throws IOException {
        if (!Files.isDirectory(tmp)) {
            return;
        }
        try (var dirs = Files.newDirectoryStream(tmp, PREFIX + "*")) {
            for (Path d : dirs) {
                String[] parts = d.getFileName().toString().substring(PREFIX.length()).split("-", 2);
                long pid;
                try {
                    pid = Long.parseLong(parts[0]);
                } catch (NumberFormatException e) {
                    continue;
                }
                if (ProcessHandle.of(pid).isPresent()) {
                    continue;
                }
                Path root = d.resolve("root");
                Linux.umount2(root.toString(), Linux.MNT_DETACH);
                Path fuse = d.resolve("attach").resolve(Attacher.dirName(KEY));
                for (String loop : LoopDevices.attachedTo(fuse.resolve("disk"))) {
                    if (DeviceUsers.of(loop).isEmpty()) {
                        LoopDevices.detach(loop);
                    }
                }
                Linux.umount2(fuse.toString(), Linux.MNT_DETACH);
                deleteTree(d);
            }
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Mounts.unmount(root, true, "cannot unmount " + root); // lazily if a reader still holds it
            attacher.detach(KEY, !DeviceUsers.of(attacher.find(KEY).map(Attachment::loopDevice).orElse("")).isEmpty());
        } finally {
            overlay.discard();
            attacher.close();
            deleteTree(dir);
        }
    }

    /** Deletes {@code p} unless anything is still mounted below it (then it is left for the next sweep). */
    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        String prefix = p.toAbsolutePath().normalize() + "/";
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String[] f = line.split(" ");
            if (f.length > 4 && DeviceUsers.unescape(f[4]).startsWith(prefix)) {
                return;
            }
        }
        try (var walk = Files.walk(p, java.nio.file.FileVisitOption.values())) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        } catch (java.nio.file.DirectoryNotEmptyException e) {
            // a mount point still busy (lazily unmounted): left for the next sweep
        }
    }

    /** Keeps nothing outside the process: the scratch mount lives and dies with it. */
    private static final class OwnStore implements DescriptorStore {
        @Override
        public void put(String name, int fd) {
            // held by the FUSE server in this process only
        }

        @Override
        public void remove(String name) {
            // nothing kept
        }

        @Override
        public Map<String, Integer> adopt() {
            return Map.of();
        }

        @Override
        public String describe() {
            return "this process";
        }

        @Override
        public void close() {
            // nothing kept
        }
    }
}
