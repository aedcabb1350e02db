package dev.shadowcopy.attach;

import dev.shadowcopy.attach.fuse.FuseConnection;
import dev.shadowcopy.attach.fuse.FuseMount;
import dev.shadowcopy.attach.fuse.FuseServer;
import dev.shadowcopy.attach.keep.DescriptorStore;
import dev.shadowcopy.attach.loop.DeviceUsers;
import dev.shadowcopy.attach.loop.LoopDevices;
import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.device.BlockDevice;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Makes block devices local block devices whose life does not depend on this process: a loop device over
 * the file of a FUSE mount that our own {@link FuseServer} serves, with the FUSE descriptor kept outside the
 * process by a {@link DescriptorStore}.
 *
 * <p><b>Attach</b>, in this order: FUSE mount + INIT; the descriptor kept; serving; the attachment recorded
 * (loop {@code -}); losetup; recorded again with the loop device. A failure undoes what was done.
 *
 * <p><b>Restart.</b> {@link #start} takes the descriptors an earlier run kept and, for every recorded
 * attachment whose mount is alive, adopts the connection: FUSE_NOTIFY_RESEND (requests the old run read but
 * did not answer are queued again), then serving. Nothing was detached, so a file system on the loop device
 * only saw its I/O pause. An attachment whose connection is gone (after a reboot, or if the service and
 * the keeper died together) is re-established on a new loop device; what still used the dead one is
 * reported, never touched.
 *
 * <p><b>Stop.</b> {@link #stop} stops answering and leaves every mount and loop device in place (see
 * {@link FuseServer#quiesce}); I/O waits in the kernel for the next run.
 *
 * <p><b>Detach</b> refuses while anything uses the loop device ({@link DeviceUsers}); with force it first
 * aborts the connection (every request fails at once: the file system above sees I/O errors), then lets
 * go. Otherwise: losetup -d, wait for the kernel to let go of the file, unmount (the kernel ends the
 * connection), readers end, the kept copy is dropped, the record rewritten.
 *
 * <p>Locking: every public method is synchronized on this object; request handling never takes it.
 */
public final class Attacher implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Attacher.class.getName());
    public static final String PATH_FUSE = "fuse";
    private static final Duration RELEASE_TIMEOUT = Duration.ofSeconds(10);

    /** What {@link #start} did with one attachment, for the service's event log. */
    public record Outcome(String key, Kind kind, String message) {
        public enum Kind { ADOPTED, REATTACHED, LOST, DROPPED, CLEANED }
    }

    private record Live(AttachmentsFile.Entry entry, FuseServer server) {
        Attachment attachment() {
            AttachmentsFile.Entry e = entry;
            return new Attachment(e.key(), e.loop(), e.dir(), e.readOnly(), PATH_FUSE, e.since());
        }
    }

    private final Path root;
    private final AttachmentsFile record;
    private final DescriptorStore store;
    private final int threads;
    private final Map<String, Live> live = new LinkedHashMap<>();
    private boolean stopped;

    public Attacher(Path stateDir, DescriptorStore store) throws IOException {
        this.root = Files.createDirectories(stateDir.resolve("attach")).toAbsolutePath().normalize();
        this.record = new AttachmentsFile(stateDir.resolve("attachments.tsv"));
        this.store = store;
        this.threads = Integer.getInteger("shadowcopy.fuse.threads", 8);
    }

    /** Where descriptors are kept: "holder process 1234", "systemd file-descriptor store". */
    public String keeper() {
        return store.describe();
    }

    // ------------------------------------------------------------------ start

    /**
     * Re-adopts or re-establishes every recorded attachment, and cleans up what no record names. Call once,
     * before anything else, with the service's volumes open; {@code resolver} gives the device behind a key,
     * or null if it no longer exists (or must not be re-established). A file system mounted from a retired
     * loop device on a mount point that {@code disposable} accepts (the service's own scratch mounts) is
     * unmounted; any other use is reported and left alone.
     */
    public synchronized List<Outcome> start(Function<String, BlockDevice> resolver, Predicate<Path> disposable)
            throws IOException {
        List<Outcome> out = new ArrayList<>();
        Map<String, Integer> kept = new LinkedHashMap<>(store.adopt());
        AttachmentsFile.Contents contents = record.read();
        List<AttachmentsFile.Entry> reattach = new ArrayList<>();
        for (AttachmentsFile.Entry e : contents.entries()) {
            Integer fd = kept.remove(e.key());
            BlockDevice t = resolver.apply(e.key());
            try {
                if (t != null && fd != null && (FuseMount.isMounted(e.dir()) || !loopsOf(e).isEmpty())) {
                    out.add(adopt(e, fd, t));
                    continue;
                }
                List<String> lost = retire(e, fd, disposable);
                if (t == null) {
                    out.add(new Outcome(e.key(), Outcome.Kind.DROPPED, e.key() + " was attached as " + e.loop()
                            + " but no longer exists; the attachment was removed" + lostText(lost)));
                } else {
                    reattach.add(e);
                    if (!lost.isEmpty()) {
                        out.add(new Outcome(e.key(), Outcome.Kind.LOST, e.key() + ": the connection behind " + e.loop()
                                + " was lost (the service and its descriptor keeper both stopped, or the machine "
                                + "restarted)" + lostText(lost)));
                    }
                }
            } catch (IOException | RuntimeException ex) {
                out.add(new Outcome(e.key(), Outcome.Kind.LOST, e.key() + ": could not take over " + e.loop() + ": "
                        + ex.getMessage()));
                if (fd != null) {
                    Linux.close(fd);
                }
            }
        }
        save();
        for (AttachmentsFile.Legacy l : contents.legacy()) {
            cleanLegacy(l);
            String key = l.export().contains("/") ? l.export() : "volume/" + l.export();
            out.add(new Outcome(key, Outcome.Kind.CLEANED, "removed " + l.loop() + " left by an earlier version "
                    + "(nbdfuse) for " + l.export()));
            reattach.add(new AttachmentsFile.Entry(key, null, root.resolve(dirName(key)), l.readOnly(), null,
                    Instant.now()));
        }
        for (var e : kept.entrySet()) {
            Linux.close(e.getValue());
            store.remove(e.getKey()); // last copy closed: the kernel ends that connection
            out.add(new Outcome(e.getKey(), Outcome.Kind.CLEANED, "dropped a kept connection no record names ("
                    + e.getKey() + ")"));
        }
        out.addAll(sweep());
        for (AttachmentsFile.Entry e : reattach) {
            BlockDevice t = resolver.apply(e.key());
            if (t == null || live.containsKey(e.key())) {
                continue;
            }
            try {
                Attachment a = attach(e.key(), t, e.readOnly());
                out.add(new Outcome(e.key(), Outcome.Kind.REATTACHED, e.key() + " attached again as "
                        + a.loopDevice() + (e.loop() != null ? " (was " + e.loop() + ")" : "")));
            } catch (IOException | RuntimeException ex) {
                out.add(new Outcome(e.key(), Outcome.Kind.LOST, "could not attach " + e.key() + " again: "
                        + ex.getMessage()));
            }
        }
        return out;
    }

    private Outcome adopt(AttachmentsFile.Entry e, int fd, BlockDevice t) throws IOException {
        FuseConnection conn = FuseConnection.adopt(fd, e.params(), e.dir());
        boolean resent = conn.resend(); // before any reader: what the old run read comes back, marked resent
        FuseServer server = FuseServer.start(conn, t, e.readOnly(), threadsFor(e.readOnly()), e.key());
        List<String> loops = loopsOf(e);
        AttachmentsFile.Entry entry = e;
        if (loops.isEmpty()) {
            entry = e.withLoop(LoopDevices.attach(e.dir().resolve(FuseMount.FILE), e.readOnly()));
        } else if (e.loop() == null || !loops.contains(e.loop())) {
            entry = e.withLoop(loops.getFirst());
        }
        live.put(e.key(), new Live(entry, server));
        return new Outcome(e.key(), Outcome.Kind.ADOPTED, e.key() + " on " + entry.loop() + " taken over"
                + (resent ? "" : "; this kernel cannot resend requests the previous run had read (Linux < 6.9): "
                + "any I/O it left unanswered waits until the device is detached with --force"));
    }

    private List<String> loopsOf(AttachmentsFile.Entry e) throws IOException {
        return LoopDevices.attachedTo(e.dir().resolve(FuseMount.FILE));
    }

    /**
     * Lets go of a recorded attachment that cannot be served: aborts its connection if it lives, detaches loop
     * devices nothing uses, unmounts. Returns the uses of loop devices that had to be left (now failing I/O).
     */
    private List<String> retire(AttachmentsFile.Entry e, Integer fd, Predicate<Path> disposable) throws IOException {
        List<String> left = new ArrayList<>();
        boolean mounted = FuseMount.isMounted(e.dir());
        if (mounted) {
            FuseMount.abort(e.dir()); // nothing will answer: fail at once rather than hang
        }
        for (String loop : loopsOf(e)) {
            for (String m : DeviceUsers.mountPoints(loop)) {
                if (disposable.test(Path.of(m))) {
                    Linux.umount2(m, Linux.MNT_DETACH); // its I/O fails now (aborted): the unmount cannot hang
                }
            }
            List<String> uses = DeviceUsers.of(loop);
            LoopDevices.detach(loop); // in use: only marked to go when its last user lets go (autoclear)
            if (!uses.isEmpty()) {
                left.add(loop + ": " + String.join("; ", uses));
            }
        }
        if (mounted) {
            FuseMount.unmount(e.dir(), true);
        }
        if (fd != null) {
            Linux.close(fd);
            store.remove(e.key());
        }
        removeDir(e.dir());
        return left;
    }

    private static String lostText(List<String> lost) {
        return lost.isEmpty() ? "" : "; still in use and now failing I/O: " + String.join(", ", lost)
                + " (unmount it — the dead device then goes away by itself — and use the new one)";
    }

    /** Mounts and loop devices under our directory that no live attachment owns: left by a crash mid-attach. */
    private List<Outcome> sweep() throws IOException {
        List<Outcome> out = new ArrayList<>();
        List<Path> owned = live.values().stream().map(l -> l.entry().dir()).toList();
        for (var e : LoopDevices.attachedUnder(root).entrySet()) {
            Path dir = Path.of(e.getValue()).getParent();
            if (owned.contains(dir)) {
                continue;
            }
            if (FuseMount.isMounted(dir)) {
                FuseMount.abort(dir);
            }
            if (DeviceUsers.of(e.getKey()).isEmpty()) {
                LoopDevices.detach(e.getKey());
                out.add(new Outcome(dir.getFileName().toString(), Outcome.Kind.CLEANED, "detached " + e.getKey()
                        + ", left over a FUSE file by an interrupted attach"));
            }
        }
        if (Files.isDirectory(root)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
                for (Path dir : ds) {
                    if (owned.contains(dir)) {
                        continue;
                    }
                    if (FuseMount.isMounted(dir)) {
                        FuseMount.abort(dir);
                        FuseMount.unmount(dir, true);
                        out.add(new Outcome(dir.getFileName().toString(), Outcome.Kind.CLEANED, "unmounted " + dir
                                + ", left by an interrupted attach"));
                    }
                    removeDir(dir);
                }
            }
        }
        return out;
    }

    private void cleanLegacy(AttachmentsFile.Legacy l) throws IOException {
        String backing = LoopDevices.backingFile(l.loop());
        if (backing != null && backing.equals(l.fuseDir().resolve("disk").toString())
                && DeviceUsers.of(l.loop()).isEmpty()) {
            LoopDevices.detach(l.loop());
        }
        Linux.umount2(l.fuseDir().toString(), Linux.MNT_DETACH);
        removeDir(l.fuseDir());
    }

    // ------------------------------------------------------------------ attach / detach

    /** Attaches {@code device} under {@code key}; returns the attachment (durably recorded on return). */
    public synchronized Attachment attach(String key, BlockDevice device, boolean readOnly) throws IOException {
        if (stopped) {
            throw new IOException("the service is stopping");
        }
        Live existing = live.get(key);
        if (existing != null) {
            throw new IOException(key + " is already attached as " + existing.entry().loop() + " (detach it first)");
        }
        Path dir = root.resolve(dirName(key));
        if (FuseMount.isMounted(dir)) {
            FuseMount.abort(dir);
            FuseMount.unmount(dir, true);
        }
        Files.createDirectories(dir);
        FuseConnection conn = FuseMount.mount(dir, readOnly);
        FuseServer server = null;
        String loop = null;
        boolean kept = false;
        try {
            store.put(key, conn.fd()); // kept before anything depends on the connection
            kept = true;
            server = FuseServer.start(conn, device, readOnly, threadsFor(readOnly), key);
            AttachmentsFile.Entry e = new AttachmentsFile.Entry(key, null, dir, readOnly, conn.params(), Instant.now());
            live.put(key, new Live(e, server));
            save();
            loop = LoopDevices.attach(dir.resolve(FuseMount.FILE), readOnly);
            e = e.withLoop(loop);
            live.put(key, new Live(e, server));
            save();
            if (!LoopDevices.directIo(loop)) {
                LOG.log(System.Logger.Level.WARNING, "{0}: the kernel refused direct I/O for {1}; it works, slower",
                        key, loop);
            }
            return live.get(key).attachment();
        } catch (IOException | RuntimeException ex) {
            live.remove(key);
            try {
                if (loop != null) {
                    LoopDevices.detach(loop);
                    LoopDevices.awaitDetached(loop, RELEASE_TIMEOUT);
                }
                FuseMount.unmount(dir, true);
                if (server != null) {
                    server.close();
                } else {
                    conn.close();
                }
                if (kept) {
                    store.remove(key);
                }
                save();
                removeDir(dir);
            } catch (IOException | RuntimeException undo) {
                ex.addSuppressed(undo);
            }
            throw ex;
        }
    }

    /** What uses the loop device of {@code key} (empty if nothing, or if it is not attached). */
    public synchronized List<String> users(String key) throws IOException {
        Live l = live.get(key);
        return l == null || l.entry().loop() == null ? List.of() : DeviceUsers.of(l.entry().loop());
    }

    /**
     * Detaches {@code key}. Refused with {@link InUseException} while anything uses the loop device, unless
     * {@code force}: then every pending and later I/O on it fails at once (a mounted file system sees I/O errors
     * and loses what it had not written), and the device goes away when its last user lets go.
     */
    public synchronized void detach(String key, boolean force) throws IOException {
        Live l = live.get(key);
        if (l == null) {
            throw new IOException(key + " is not attached");
        }
        AttachmentsFile.Entry e = l.entry();
        String loop = e.loop();
        if (loop != null && !e.dir().resolve(FuseMount.FILE).toString().equals(LoopDevices.backingFile(loop))) {
            loop = null; // detached behind our back (losetup -d, or autoclear): nothing of ours to let go of
        }
        List<String> uses = loop == null ? List.of() : DeviceUsers.of(loop);
        if (!uses.isEmpty() && !force) {
            throw new InUseException("cannot detach " + key, loop, uses, "Unmount it or close it first, or detach "
                    + "with --force (the file system on it then gets I/O errors and loses unwritten data).");
        }
        if (!uses.isEmpty()) {
            FuseMount.abort(e.dir());
            LoopDevices.detach(loop); // the kernel detaches it when the last user closes it
            FuseMount.unmount(e.dir(), true);
        } else {
            if (loop != null) {
                LoopDevices.detach(loop);
                if (!LoopDevices.awaitDetached(loop, RELEASE_TIMEOUT)) {
                    throw new InUseException("cannot detach " + key, loop, DeviceUsers.of(loop),
                            "It was opened while being detached; try again.");
                }
            }
            try {
                FuseMount.unmount(e.dir(), false);
            } catch (IOException busy) {
                FuseMount.abort(e.dir());
                FuseMount.unmount(e.dir(), true);
            }
        }
        l.server().close(); // readers end: the kernel ended the connection with the mount
        store.remove(key);
        live.remove(key);
        save();
        removeDir(e.dir());
    }

    public synchronized Optional<Attachment> find(String key) {
        Live l = live.get(key);
        return l == null || l.entry().loop() == null ? Optional.empty() : Optional.of(l.attachment());
    }

    public synchronized List<Attachment> list() {
        return live.values().stream().filter(l -> l.entry().loop() != null).map(Live::attachment).toList();
    }

    /**
     * The service is stopping: stop answering (requests being processed finish, within {@code timeout}) and
     * leave every mount, loop device and kept descriptor in place for the next run.
     */
    public void stop(Duration timeout) {
        List<Live> all;
        synchronized (this) {
            stopped = true;
            all = List.copyOf(live.values());
        }
        for (Live l : all) {
            try {
                if (!l.server().quiesce(timeout)) {
                    LOG.log(System.Logger.Level.WARNING, "{0}: requests still being processed after {1} s; they "
                            + "are resent to the next run", l.entry().key(), timeout.toSeconds());
                }
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void close() {
        store.close();
    }

    // ------------------------------------------------------------------ helpers

    private int threadsFor(boolean readOnly) {
        return readOnly ? Math.max(2, threads / 2) : threads;
    }

    static String dirName(String key) {
        return key.replace('/', '_');
    }

    private void save() throws IOException {
        record.write(live.values().stream().map(Live::entry).toList());
    }

    /** Removes an attachment directory, never one that is (still) a mount point: that would hang or fail. */
    private static void removeDir(Path dir) throws IOException {
        if (!FuseMount.isMounted(dir)) {
            try {
                Files.deleteIfExists(dir);
            } catch (java.nio.file.DirectoryNotEmptyException e) {
                LOG.log(System.Logger.Level.WARNING, "{0} is not empty; left in place", dir);
            }
        }
    }
}
