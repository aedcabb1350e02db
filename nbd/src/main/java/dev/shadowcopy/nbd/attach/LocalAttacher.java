package dev.shadowcopy.nbd.attach;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Makes NBD exports local block devices the way this machine allows (no kernel NBD client): nbdfuse presents
 * the export as a file, and a loop device is attached to that file. Every attachment is recorded in
 * {@link AttachmentsFile} before it is used, so {@link #cleanupStale()} can undo what a crashed service left.
 *
 * <p>Order on attach: fuse directory, nbdfuse (ready when its pidfile appears), losetup, record. On detach the
 * reverse: losetup -d, fusermount3 -u (nbdfuse exits), record. A step that fails undoes the ones before it.
 */
public final class LocalAttacher {
    private static final System.Logger LOG = System.getLogger(LocalAttacher.class.getName());
    private static final long READY_TIMEOUT_MS = 30_000;

    private final Path root;
    private final Path nbdSocket;
    private final AttachmentsFile record;
    private final Map<String, Attached> attached = new ConcurrentHashMap<>();

    private record Attached(Attachment attachment, Process nbdfuse) {}

    /**
     * @param stateDir  the service's state directory (attachments live in {@code stateDir/attach})
     * @param nbdSocket the service's NBD Unix socket
     */
    public LocalAttacher(Path stateDir, Path nbdSocket) throws IOException {
        this.root = Files.createDirectories(stateDir.resolve("attach"));
        this.nbdSocket = nbdSocket;
        this.record = new AttachmentsFile(stateDir.resolve("attachments.tsv"));
    }

    /** Attaches an export; returns the loop device. Refuses an export that is already attached. */
    public synchronized Attachment attach(String export, boolean readOnly) throws IOException {
        if (attached.containsKey(export)) {
            throw new IOException(export + " is already attached as " + attached.get(export).attachment().loopDevice()
                    + " (detach it first)");
        }
        Path dir = Files.createDirectories(root.resolve(export.replace('/', '_') + "-" + UUID.randomUUID()
                .toString().substring(0, 8)));
        Path pidfile = root.resolve(dir.getFileName() + ".pid");
        List<String> cmd = new ArrayList<>(List.of("nbdfuse", "-P", pidfile.toString()));
        if (readOnly) {
            cmd.add("-r");
        }
        cmd.add(dir.resolve("disk").toString());
        cmd.add("nbd+unix:///" + export + "?socket=" + nbdSocket);
        Process fuse = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(root.resolve(dir.getFileName() + ".log").toFile()).start();
        try {
            waitForReady(fuse, pidfile, export);
            String loop = run("losetup", "--find", "--show", "--direct-io=off", readOnly ? "--read-only" : "",
                    dir.resolve("disk").toString()).strip();
            Attachment a = new Attachment(export, loop, dir, fuse.pid(), readOnly);
            attached.put(export, new Attached(a, fuse));
            save();
            return a;
        } catch (IOException | RuntimeException e) {
            unmountFuse(dir, fuse);
            throw e;
        } finally {
            Files.deleteIfExists(pidfile);
        }
    }

    private void waitForReady(Process fuse, Path pidfile, String export) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(READY_TIMEOUT_MS);
        long pause = 5;
        while (!Files.exists(pidfile)) {
            if (!fuse.isAlive()) {
                throw new IOException("nbdfuse exited with " + fuse.exitValue() + " before serving " + export);
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("nbdfuse did not become ready for " + export + " within "
                        + READY_TIMEOUT_MS / 1000 + " s");
            }
            try {
                fuse.waitFor(pause, TimeUnit.MILLISECONDS); // wakes early if nbdfuse dies
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while attaching " + export);
            }
            pause = Math.min(100, pause * 2);
        }
    }

    /** Detaches an export attached by this service. */
    public synchronized void detach(String export) throws IOException {
        Attached a = attached.get(export);
        if (a == null) {
            throw new IOException(export + " is not attached");
        }
        run("losetup", "-d", a.attachment().loopDevice());
        unmountFuse(a.attachment().fuseDir(), a.nbdfuse());
        attached.remove(export);
        save();
    }

    public List<Attachment> list() {
        return attached.values().stream().map(Attached::attachment).toList();
    }

    public Attachment find(String export) {
        Attached a = attached.get(export);
        return a == null ? null : a.attachment();
    }

    /** Detaches everything this service attached (at stop). */
    public synchronized void detachAll() {
        for (String export : new ArrayList<>(attached.keySet())) {
            try {
                detach(export);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "detaching {0} failed: {1}", export, e.getMessage());
            }
        }
    }

    /**
     * Undoes attachments a previous run of the service recorded but did not detach (it crashed): detaches the
     * loop device if it still points at that fuse file, unmounts the fuse directory, removes leftovers.
     * Returns what was cleaned.
     */
    public synchronized List<Attachment> cleanupStale() throws IOException {
        List<Attachment> stale = record.read();
        for (Attachment a : stale) {
            String backing = runQuietly("losetup", "--noheadings", "-O", "BACK-FILE", a.loopDevice()).strip();
            if (backing.equals(a.fuseFile().toString())) {
                runQuietly("losetup", "-d", a.loopDevice());
            }
            runQuietly("fusermount3", "-u", a.fuseDir().toString());
            runQuietly("umount", "-l", a.fuseDir().toString());
            deleteDir(a.fuseDir());
            LOG.log(System.Logger.Level.INFO, "cleaned up {0} left attached as {1} by a previous run", a.export(),
                    a.loopDevice());
        }
        save();
        return stale;
    }

    private void unmountFuse(Path dir, Process fuse) throws IOException {
        runQuietly("fusermount3", "-u", dir.toString());
        try {
            if (!fuse.waitFor(30, TimeUnit.SECONDS)) {
                fuse.destroyForcibly();
                fuse.waitFor(10, TimeUnit.SECONDS);
                runQuietly("umount", "-l", dir.toString());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        deleteDir(dir);
    }

    private static void deleteDir(Path dir) throws IOException {
        Files.deleteIfExists(dir.resolve("disk"));
        Files.deleteIfExists(dir);
    }

    private void save() throws IOException {
        record.write(list());
    }

    public static String run(String... command) throws IOException {
        List<String> cmd = new ArrayList<>();
        for (String c : command) {
            if (!c.isEmpty()) {
                cmd.add(c);
            }
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish within 60 s");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): " + out.strip());
            }
            return out;
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd));
        }
    }

    private static String runQuietly(String... command) {
        try {
            return run(command);
        } catch (IOException e) {
            return "";
        }
    }
}
