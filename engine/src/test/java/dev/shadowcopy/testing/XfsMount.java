package dev.shadowcopy.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A fresh XFS file system with reflink=1, in an image file on a loop device, mounted under a test's temporary
 * directory: where FICLONE works. Needs root and mkfs.xfs (a host test: {@link Host} skips or fails without them).
 * Closing unmounts it and detaches the loop device this mount attached (never any other).
 */
public final class XfsMount implements AutoCloseable {
    private final Path mountPoint;
    private final String loop;

    private XfsMount(Path mountPoint, String loop) {
        this.mountPoint = mountPoint;
        this.loop = loop;
    }

    /** Makes and mounts a file system of {@code size} (e.g. "320M") in {@code dir}. */
    public static XfsMount create(Path dir, String size) throws IOException {
        Host.requireRoot();
        Host.requireProgram("mkfs.xfs");
        Path img = dir.resolve("xfs.img");
        Host.run("truncate", "-s", size, img.toString());
        Host.run("mkfs.xfs", "-q", "-m", "reflink=1", img.toString());
        String loop = Host.run("losetup", "-f", "--show", img.toString()).strip();
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        try {
            Host.run("mount", loop, mnt.toString());
        } catch (IOException e) {
            Host.run("losetup", "-d", loop);
            throw e;
        }
        return new XfsMount(mnt, loop);
    }

    public Path path() {
        return mountPoint;
    }

    @Override
    public void close() throws IOException {
        try {
            Host.run("umount", mountPoint.toString());
        } finally {
            Host.run("losetup", "-d", loop);
        }
    }
}
