package dev.shadowcopy.service.versions;

import dev.shadowcopy.attach.Mounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Shadow copies mounted by the service itself: on demand for {@code versions} (under {@code STATE/previous/VOL/}),
 * and all the time for volumes shared over Samba (in the share's snapshot directory). Each mount is named after
 * its copy's instant, {@code @GMT-YYYY.MM.DD-HH.MM.SS} (UTC), the name Samba's {@code shadow_copy2} reads; a
 * second copy of the same volume in the same second gets {@code _ID8} appended (Samba shows the newest one).
 *
 * <p><b>Mounts are state.</b> Each is an ordinary exposure (the {@code attach} module's {@code Exposer}: a loop
 * device over our FUSE server through a durable overlay, so a dirty journal replays into the overlay and the copy
 * stays exact; a btrfs snapshot is bind-mounted read-only), recorded in the catalog as the copy's exposure. So a
 * restart of the service takes them over under whoever reads them, and a reboot mounts them again, exactly like
 * {@code expose}. What is not state is the idle clock: after a restart every on-demand mount counts as used at
 * start.
 *
 * <p><b>Idle.</b> Every {@link #TICK}, an on-demand mount that no {@link Lease} holds and that was last used more
 * than {@code idle} ago is unexposed (a mount a process still uses is left for the next tick: never forced).
 * The same tick mounts every copy of a shared volume that is not mounted yet, and removes mount points of copies
 * that are gone (deleting a copy unexposes it first).
 *
 * <p><b>Locking.</b> The monitor of this object is held while deciding and making or taking away a mount; file
 * reads under a mount hold a {@link Lease} instead, so long hashes never block the tick.
 */
public final class CopyMounts implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(CopyMounts.class.getName());
    static final String SMB_FORMAT = "@GMT-%Y.%m.%d-%H.%M.%S";
    private static final DateTimeFormatter GMT = DateTimeFormatter.ofPattern("'@GMT-'yyyy.MM.dd-HH.mm.ss")
            .withZone(ZoneOffset.UTC);
    static final Duration TICK = Duration.ofSeconds(2);

    private final Path root;
    private final VersionsHost host;
    private final SambaShares shares;
    private final Duration idle;
    private final Map<String, Instant> lastUse = new HashMap<>();
    private final Map<String, Integer> leases = new HashMap<>();
    private final Set<String> warned = new HashSet<>();
    private final ScheduledExecutorService ticker;

    /** A copy's file tree held open: not unmounted for idleness until closed. */
    public final class Lease implements AutoCloseable {
        private final String id;
        private final Path tree;
        private boolean closed;

        private Lease(String id, Path tree) {
            this.id = id;
            this.tree = tree;
        }

        /** The copy's root directory. */
        public Path tree() {
            return tree;
        }

        @Override
        public void close() {
            synchronized (CopyMounts.this) {
                if (!closed) {
                    closed = true;
                    leases.merge(id, -1, Integer::sum);
                    lastUse.put(id, Instant.now());
                }
            }
        }
    }

    private CopyMounts(Path root, VersionsHost host, SambaShares shares, Duration idle) {
        this.root = root;
        this.host = host;
        this.shares = shares;
        this.idle = idle;
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon()
                .name("copy-mounts").unstarted(r));
    }

    /** Starts the idle clock and the keeper of shared volumes' snapshot directories. */
    public static CopyMounts start(Path stateDir, VersionsHost host, SambaShares shares, Duration idle)
            throws IOException {
        CopyMounts m = new CopyMounts(Files.createDirectories(stateDir.resolve("previous")).toAbsolutePath()
                .normalize(), host, shares, idle);
        m.ticker.scheduleWithFixedDelay(m::tickSafely, 0, TICK.toMillis(), TimeUnit.MILLISECONDS);
        return m;
    }

    /** The directory holding the automatic mounts of {@code volume}'s copies. */
    public Path dirOf(String volume) {
        return shares.of(volume).map(s -> Path.of(s.snapdir())).orElse(root.resolve(volume));
    }

    /** Whether {@code mountPoint} is one of ours (an expose there may be replaced without asking). */
    public boolean isAutomatic(Path mountPoint) {
        Path p = mountPoint.toAbsolutePath().normalize();
        return p.startsWith(root) || shares.list().stream().anyMatch(s -> p.getParent() != null
                && p.getParent().equals(Path.of(s.snapdir())));
    }

    /** The mount's name for {@code c} among {@code all} copies of its volume. */
    static String mountName(VersionsHost.Copy c, List<VersionsHost.Copy> all) {
        String name = GMT.format(c.created());
        boolean newerSameSecond = all.stream().anyMatch(o -> !o.id().equals(c.id())
                && GMT.format(o.created()).equals(name) && o.created().isAfter(c.created()));
        return newerSameSecond ? name + "_" + c.id().substring(0, 8) : name;
    }

    /**
     * The file tree of copy {@code c}, mounted if it is not (read-only, under {@link #dirOf}); held until the
     * lease is closed. A copy already exposed elsewhere (by {@code expose}) is read there.
     */
    public Lease open(VersionsHost.Copy c) throws IOException {
        Path tree;
        synchronized (this) {
            if (c.tree() != null) {
                tree = c.tree();
            } else if (c.exposedPath() != null && Mounts.isMountPoint(c.exposedPath())) {
                tree = c.exposedPath();
            } else {
                Path mp = dirOf(c.volume()).resolve(mountName(c, host.copies(c.volume())));
                prepareDir(c.volume());
                host.expose(c.id(), mp);
                tree = mp;
            }
            leases.merge(c.id(), 1, Integer::sum);
            lastUse.put(c.id(), Instant.now());
        }
        return new Lease(c.id(), tree);
    }

    private void prepareDir(String volume) throws IOException {
        Path d = dirOf(volume);
        if (shares.of(volume).isPresent()) {
            // smbd reads the snapshot directory as the connected user: it and every directory this creates on the
            // way (/run/shadowcopy/previous by default) must be reachable by all, whatever the daemon's umask (077)
            List<Path> missing = new java.util.ArrayList<>();
            for (Path p = d; p != null && !Files.exists(p); p = p.getParent()) {
                missing.addFirst(p);
            }
            for (Path p : missing) {
                Files.createDirectory(p);
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
        } else {
            Files.createDirectories(d);
        }
    }

    private void tickSafely() {
        try {
            tick();
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "copy mounts: {0}", e.toString());
        }
    }

    /** One pass of the keeper (also run right after a share is added, so its directory is current at once). */
    public synchronized void tick() throws IOException {
        for (SambaShares.Share s : shares.list()) {
            keepShared(s);
        }
        Set<String> volumes = new HashSet<>();
        try (var dirs = Files.list(root)) {
            dirs.filter(Files::isDirectory).forEach(d -> volumes.add(d.getFileName().toString()));
        }
        for (String volume : volumes) {
            List<VersionsHost.Copy> copies;
            try {
                copies = host.copies(volume);
            } catch (IOException | RuntimeException e) {
                copies = List.of(); // the volume is gone: only empty mount points can be left
            }
            for (VersionsHost.Copy c : copies) {
                if (c.exposedPath() == null || !c.exposedPath().startsWith(root) || leases.getOrDefault(c.id(), 0) > 0) {
                    continue;
                }
                Instant used = lastUse.computeIfAbsent(c.id(), k -> Instant.now());
                if (Duration.between(used, Instant.now()).compareTo(idle) >= 0) {
                    try {
                        host.unexpose(c.id());
                        lastUse.remove(c.id());
                    } catch (IOException e) {
                        LOG.log(System.Logger.Level.DEBUG, "{0} still in use: {1}", c.id(), e.getMessage());
                    }
                }
            }
            removeEmptyMountPoints(root.resolve(volume));
        }
    }

    private void keepShared(SambaShares.Share s) throws IOException {
        List<VersionsHost.Copy> copies;
        try {
            copies = host.copies(s.volume());
        } catch (IOException | RuntimeException e) {
            return; // the volume is gone; unshare it to stop trying
        }
        Path dir = Path.of(s.snapdir());
        prepareDir(s.volume());
        for (VersionsHost.Copy c : copies) {
            Path mp = dir.resolve(mountName(c, copies));
            if (c.exposedPath() != null && c.exposedPath().equals(mp)) {
                continue;
            }
            if (c.exposedPath() != null && isAutomatic(c.exposedPath()) && leases.getOrDefault(c.id(), 0) == 0) {
                try {
                    host.unexpose(c.id()); // mounted on demand elsewhere: move it into the share's directory
                } catch (IOException e) {
                    continue; // in use: next tick
                }
            } else if (c.exposedPath() != null) {
                if (warned.add(c.id())) {
                    host.event("share-copy-skipped", "warning", "shadow copy " + c.id() + " of shared volume "
                            + s.volume() + " is exposed on " + c.exposedPath() + "; it appears in share " + s.name()
                            + " once unexposed", Map.of("shadow", c.id(), "share", s.name()));
                }
                continue;
            }
            try {
                host.expose(c.id(), mp);
            } catch (IOException e) {
                if (warned.add(c.id())) {
                    host.event("share-copy-failed", "error", "shadow copy " + c.id() + " cannot be mounted for share "
                            + s.name() + ": " + e.getMessage(), Map.of("shadow", c.id(), "share", s.name()));
                }
            }
        }
        removeEmptyMountPoints(dir);
    }

    /** Mount points whose copy went away: empty directories named like ours that nothing is mounted on. */
    private static void removeEmptyMountPoints(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (var entries = Files.list(dir)) {
            for (Path p : entries.toList()) {
                if (p.getFileName().toString().startsWith("@GMT-") && Files.isDirectory(p) && !Mounts.isMountPoint(p)) {
                    try (var inside = Files.list(p)) {
                        if (inside.findAny().isPresent()) {
                            continue;
                        }
                    }
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    /** Stops the clock; every mount stays (state, taken over at the next start). */
    @Override
    public void close() {
        ticker.shutdownNow();
        try {
            ticker.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
