package dev.shadowcopy.service.sequence;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.NativeFile;
import dev.shadowcopy.service.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Flushes and freezes ({@code FIFREEZE}) the file systems mounted on the set's volumes around the provider
 * commit, so the copy holds a clean file system, and thaws them after.
 *
 * <p>A volume's file system is found through the block device it is attached as (a loop device over nbdfuse):
 * its {@code major:minor} from {@code /sys/class/block/NAME/dev} is matched against
 * {@code /proc/self/mountinfo}; each device is frozen once even if it is mounted in several places.
 *
 * <p>Durability: the mount points about to be frozen are written to {@code frozen.json} (fsync, rename,
 * directory fsync) before the first FIFREEZE, and the file is removed only after every thaw. If the service
 * dies with file systems frozen, {@link #thawLeftovers} at the next start thaws them — a frozen file system
 * blocks every writer on the machine, so it must never outlive us.
 */
public final class FileSystemFreezer {
    private static final System.Logger LOG = System.getLogger(FileSystemFreezer.class.getName());
    private final Path record;
    private final Function<String, Optional<String>> blockDeviceOf;

    /**
     * @param stateDir       where {@code frozen.json} lives
     * @param blockDeviceOf  volume name → the block device it is attached as (e.g. {@code /dev/loop3}), if any
     */
    public FileSystemFreezer(Path stateDir, Function<String, Optional<String>> blockDeviceOf) {
        this.record = stateDir.resolve("frozen.json");
        this.blockDeviceOf = blockDeviceOf;
    }

    /** The mount points of file systems on these volumes (one per device). */
    public List<Path> mountsOf(List<String> volumes) throws IOException {
        Map<String, Path> byDevice = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(Path.of("/proc/self/mountinfo"));
        for (String volume : volumes) {
            Optional<String> dev = blockDeviceOf.apply(volume);
            if (dev.isEmpty()) {
                continue;
            }
            String name = Path.of(dev.get()).getFileName().toString();
            Path sys = Path.of("/sys/class/block", name, "dev");
            if (!Files.exists(sys)) {
                continue;
            }
            String majMin = Files.readString(sys).trim();
            for (String line : lines) {
                String[] f = line.split(" ");
                if (f.length > 4 && f[2].equals(majMin) && !byDevice.containsKey(majMin)) {
                    byDevice.put(majMin, Path.of(unescape(f[4])));
                }
            }
        }
        return new ArrayList<>(byDevice.values());
    }

    /** Freezes the file systems; on failure thaws what it froze and throws. */
    public List<Path> freeze(List<Path> mounts) throws IOException {
        if (mounts.isEmpty()) {
            return List.of();
        }
        writeRecord(mounts);
        List<Path> frozen = new ArrayList<>();
        try {
            for (Path m : mounts) {
                NativeFile.freezeFileSystem(m);
                frozen.add(m);
            }
            return frozen;
        } catch (IOException e) {
            thaw(frozen);
            throw new IOException("cannot freeze the file system on " + mounts.get(frozen.size()) + ": "
                    + e.getMessage(), e);
        }
    }

    /** Thaws every file system given; reports the first failure after trying all. */
    public void thaw(List<Path> frozen) throws IOException {
        IOException first = null;
        for (Path m : frozen) {
            try {
                NativeFile.thawFileSystem(m);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot thaw {0}: {1}", m, e.getMessage());
                if (first == null) {
                    first = e;
                }
            }
        }
        LocalStorage.INSTANCE.delete(record); // durable: the directory is synced
        if (first != null) {
            throw first;
        }
    }

    /** At start: thaws whatever a previous run left frozen. Returns the mount points it thawed. */
    public List<Path> thawLeftovers() throws IOException {
        if (!Files.exists(record)) {
            return List.of();
        }
        List<String> paths = Json.MAPPER.readValue(record.toFile(), new TypeReference<List<String>>() {});
        List<Path> thawed = new ArrayList<>();
        for (String p : paths) {
            try {
                NativeFile.thawFileSystem(Path.of(p));
                thawed.add(Path.of(p));
            } catch (IOException e) {
                // EINVAL: it was not frozen (any more); nothing to do
                LOG.log(System.Logger.Level.DEBUG, "thaw of leftover {0}: {1}", p, e.getMessage());
            }
        }
        LocalStorage.INSTANCE.delete(record); // durable: the directory is synced
        return thawed;
    }

    private void writeRecord(List<Path> mounts) throws IOException {
        LocalStorage.INSTANCE.publish(record, Json.bytes(mounts.stream().map(Path::toString).toList()));
    }

    /** mountinfo escapes space, tab, newline and backslash as octal. */
    static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
