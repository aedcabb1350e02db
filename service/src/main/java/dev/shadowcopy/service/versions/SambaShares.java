package dev.shadowcopy.service.versions;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Volumes shared over Samba with Windows' Previous Versions: for each, the share's name and the snapshot
 * directory the service keeps current (one read-only mount per shadow copy, named {@code @GMT-YYYY.MM.DD-HH.MM.SS}
 * in UTC, which Samba's {@code vfs_shadow_copy2} lists as the share's previous versions).
 *
 * <p>{@code STATE/shares.json} is {@code {"version": 1, "shares": [{"volume", "name", "snapdir"}, ...]}},
 * published whole through {@link Storage#publish} (temporary name, sync, rename, directory sync): durable on
 * return of {@link #add} and {@link #remove}. An unreadable file is moved aside and reported, never overwritten.
 *
 * <p>Thread-safety: synchronized.
 */
public final class SambaShares {
    static final String FILE = "shares.json";
    static final int VERSION = 1;
    /** Default parent of snapshot directories: outside the private state directory, so smbd's users reach it. */
    public static final Path DEFAULT_ROOT = Path.of("/run/shadowcopy/previous");
    private static final Pattern SHARE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._$-]{0,79}");

    /** One shared volume. */
    public record Share(String volume, String name, String snapdir) {
        public Share {
            if (name == null || !SHARE.matcher(name).matches()) {
                throw new IllegalArgumentException("share name '" + name + "' must be 1 to 80 letters, digits, '.', "
                        + "'_', '$' or '-', starting with a letter or digit");
            }
            if (snapdir == null || !Path.of(snapdir).isAbsolute()) {
                throw new IllegalArgumentException("the snapshot directory must be an absolute path, was " + snapdir);
            }
        }
    }

    record Data(int version, List<Share> shares) {}

    private final Path file;
    private final Storage storage;
    private final Map<String, Share> shares = new TreeMap<>();

    private SambaShares(Path file, Storage storage) {
        this.file = file;
        this.storage = storage;
    }

    public static SambaShares open(Path stateDir, Storage storage, java.util.function.Consumer<String> problem)
            throws IOException {
        SambaShares s = new SambaShares(stateDir.resolve(FILE), storage);
        if (Files.exists(s.file)) {
            try {
                Data d = Json.MAPPER.readValue(s.file.toFile(), new TypeReference<Data>() {});
                if (d.version() != VERSION) {
                    throw new IOException("version " + d.version() + " is not " + VERSION);
                }
                d.shares().forEach(x -> s.shares.put(x.volume(), x));
            } catch (IOException | RuntimeException e) {
                Path aside = s.file.resolveSibling(FILE + ".unreadable-" + Instant.now().toEpochMilli());
                Files.move(s.file, aside);
                problem.accept(s.file + " could not be read (" + String.valueOf(e.getMessage()).lines().findFirst()
                        .orElse("") + "); moved to " + aside + "; share the volumes again");
            }
        }
        return s;
    }

    public synchronized Share add(Share share) throws IOException {
        for (Share o : shares.values()) {
            if (!o.volume().equals(share.volume()) && (o.name().equalsIgnoreCase(share.name())
                    || o.snapdir().equals(share.snapdir()))) {
                throw new IllegalArgumentException("share " + o.name() + " of volume " + o.volume() + " already uses "
                        + (o.name().equalsIgnoreCase(share.name()) ? "that name" : "snapshot directory " + o.snapdir()));
            }
        }
        Map<String, Share> next = new TreeMap<>(shares);
        next.put(share.volume(), share);
        publish(next);
        shares.put(share.volume(), share);
        return share;
    }

    public synchronized Optional<Share> remove(String volume) throws IOException {
        if (!shares.containsKey(volume)) {
            return Optional.empty();
        }
        Map<String, Share> next = new TreeMap<>(shares);
        Share s = next.remove(volume);
        publish(next);
        shares.remove(volume);
        return Optional.of(s);
    }

    public synchronized Optional<Share> of(String volume) {
        return Optional.ofNullable(shares.get(volume));
    }

    public synchronized List<Share> list() {
        return List.copyOf(shares.values());
    }

    private void publish(Map<String, Share> next) throws IOException {
        storage.publish(file, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(
                new Data(VERSION, List.copyOf(next.values()))));
    }

    /** The smb.conf section of {@code share} for a volume mounted on {@code mountPoint}. */
    public static String smbConf(Share share, Path mountPoint) {
        String mp = mountPoint.toString();
        return "[" + share.name() + "]\n"
                + "    # volume " + share.volume() + "; previous versions are the service's shadow copies of it\n"
                + "    path = " + mp + "\n"
                + "    read only = no\n"
                + "    vfs objects = shadow_copy2\n"
                + "    shadow:mountpoint = " + mp + "\n"
                + "    shadow:snapdir = " + share.snapdir() + "\n"
                + "    shadow:format = " + CopyMounts.SMB_FORMAT + "\n"
                + "    shadow:localtime = no\n"
                + "    shadow:sort = desc\n";
    }
}
