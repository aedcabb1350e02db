package dev.shadowcopy.service.provider;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The btrfs provider: registered btrfs subvolumes, whose shadow copies are read-only btrfs snapshots in
 * {@code <parent>/.shadowcopy-<name>/<copy id>} (same file system, so the snapshot is O(1) and atomic). The
 * registry is {@code STATE/btrfs-volumes.json} (published durably); the snapshots themselves are btrfs's own
 * metadata, made durable with a file-system sync before the set is reported created.
 */
public final class BtrfsVolumes implements ForeignVolumes {
    public static final String FILE = "btrfs-volumes.json";

    /** A registered subvolume. */
    public record Entry(String name, String path) {}

    private final Path file;
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    private BtrfsVolumes(Path file) {
        this.file = file;
    }

    public static BtrfsVolumes open(Path stateDir) throws IOException {
        BtrfsVolumes b = new BtrfsVolumes(stateDir.resolve(FILE));
        if (Files.exists(b.file)) {
            for (Entry e : Json.MAPPER.readValue(Files.readAllBytes(b.file), new TypeReference<List<Entry>>() { })) {
                b.entries.put(e.name(), e);
            }
        }
        return b;
    }

    /** Registers a subvolume as a volume; refuses anything that is not one. */
    public synchronized Entry add(String name, Path path) throws IOException {
        try {
            VolumeConfig.checkName(name);
        } catch (IllegalArgumentException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, e.getMessage());
        }
        if (entries.containsKey(name)) {
            throw new ServiceException(VssError.OBJECT_ALREADY_EXISTS, "volume " + name + " already exists");
        }
        Path p = path.toAbsolutePath().normalize();
        String out = run("btrfs", "subvolume", "show", p.toString());
        if (out == null) {
            throw new ServiceException(VssError.VOLUME_NOT_SUPPORTED, p + " is not a btrfs subvolume (create one with "
                    + "`btrfs subvolume create`)");
        }
        Entry e = new Entry(name, p.toString());
        entries.put(name, e);
        Files.createDirectories(snapshotDir(e));
        save();
        return e;
    }

    public synchronized void remove(String name, boolean force) throws IOException {
        Entry e = entries.get(name);
        if (e == null) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "no volume named " + name);
        }
        List<String> copies = copies(e);
        if (!copies.isEmpty() && !force) {
            throw new ServiceException(VssError.VOLUME_IN_USE, "volume " + name + " has " + copies.size()
                    + " shadow copies; delete them first, or force the deletion");
        }
        for (String c : copies) {
            run("btrfs", "subvolume", "delete", snapshotDir(e).resolve(c).toString());
        }
        entries.remove(name);
        save();
    }

    private void save() throws IOException {
        LocalStorage.INSTANCE.publish(file, Json.MAPPER.writeValueAsBytes(List.copyOf(entries.values())));
    }

    static Path snapshotDir(Entry e) {
        Path p = Path.of(e.path());
        return p.resolveSibling(".shadowcopy-" + e.name());
    }

    private static List<String> copies(Entry e) throws IOException {
        List<String> out = new ArrayList<>();
        Path d = snapshotDir(e);
        if (Files.isDirectory(d)) {
            try (var s = Files.list(d)) {
                s.map(x -> x.getFileName().toString()).sorted().forEach(out::add);
            }
        }
        return out;
    }

    @Override
    public synchronized Foreign find(String name) {
        Entry e = entries.get(name);
        return e == null ? null : new Volume(e);
    }

    @Override
    public synchronized List<Foreign> list() {
        return entries.values().stream().map(e -> (Foreign) new Volume(e)).toList();
    }

    private record Volume(Entry e) implements Foreign {
        @Override
        public String name() {
            return e.name();
        }

        @Override
        public String provider() {
            return Providers.BTRFS;
        }

        @Override
        public String description() {
            return "btrfs subvolume " + e.path();
        }

        @Override
        public void snapshot(ShadowCopyId id) throws IOException {
            Path target = snapshotDir(e).resolve(id.toString());
            Files.createDirectories(target.getParent());
            if (run("btrfs", "subvolume", "snapshot", "-r", e.path(), target.toString()) == null) {
                throw new IOException("btrfs could not snapshot " + e.path() + " into " + target);
            }
            run("btrfs", "filesystem", "sync", e.path()); // the snapshot is durable before the set is reported
        }

        @Override
        public void delete(ShadowCopyId id) throws IOException {
            Path target = snapshotDir(e).resolve(id.toString());
            if (Files.exists(target) && run("btrfs", "subvolume", "delete", target.toString()) == null) {
                throw new IOException("btrfs could not delete the snapshot " + target);
            }
        }

        @Override
        public boolean exists(ShadowCopyId id) {
            return Files.isDirectory(snapshotDir(e).resolve(id.toString()));
        }

        @Override
        public Path path(ShadowCopyId id) {
            return snapshotDir(e).resolve(id.toString());
        }

        @Override
        public boolean holds(Path file) {
            return file.toAbsolutePath().normalize().startsWith(Path.of(e.path()).toAbsolutePath().normalize());
        }
    }

    /** Runs a command; its output, or null when it failed. */
    static String run(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return null;
            }
        } catch (InterruptedException ex) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted running " + cmd[0]);
        }
        return p.exitValue() == 0 ? out : null;
    }
}
