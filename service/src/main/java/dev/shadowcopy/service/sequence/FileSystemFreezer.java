package dev.shadowcopy.service.sequence;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.platform.NativeFile;
import dev.shadowcopy.service.json.Json;
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
 *
 * <p>Time limit (VSS's {@code FLUSH_WRITES_TIMEOUT}): FIFREEZE first writes back the file system's dirty data, which
 * takes as long as the device under it does (a hung device, a stopped server: forever), and cannot be interrupted.
 * So the freezes run on a thread of their own and {@link #freeze} stops waiting at its deadline: it thaws what was
 * frozen, throws {@link FlushTimeoutException}, and leaves the freeze still inside the kernel <em>abandoned</em>:
 * when that FIFREEZE returns, its file system is thawed at once and the record removed. Until then every new freeze
 * is refused (retryable), so no second set can start on a file system that may be frozen behind its back.
 */
public final class FileSystemFreezer {
    private static final System.Logger LOG = System.getLogger(FileSystemFreezer.class.getName());
    private final Path record;
    private final Function<String, Optional<String>> blockDeviceOf;
    private final Object lateLock = new Object();
    /** Freezes abandoned at their deadline that are still inside the kernel (guarded by {@code lateLock}). */
    private int late;
    private volatile java.util.function.Consumer<String> lateNotice = m -> { };

    /** FIFREEZE did not finish by its deadline; nothing is left frozen by this call. Retryable. */
    public static final class FlushTimeoutException extends IOException {
        public FlushTimeoutException(String message) {
            super(message);
        }
    }

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
                // btrfs shows an anonymous device number (0:NN) in field 3, so its mounts are found by their
                // source (the field after the fstype, behind " - ") instead
                int dash = line.indexOf(" - ");
                String[] tail = dash < 0 ? new String[0] : line.substring(dash + 3).split(" ");
                boolean ours = f.length > 4 && (f[2].equals(majMin) || (tail.length > 1
                        && unescape(tail[1]).equals(dev.get())));
                if (ours && !byDevice.containsKey(majMin)) {
                    byDevice.put(majMin, Path.of(unescape(f[4])));
                }
            }
        }
        return new ArrayList<>(byDevice.values());
    }

    /** Told (with a sentence for the event log) when an abandoned freeze finished and was undone. */
    public void onLateFreeze(java.util.function.Consumer<String> notice) {
        this.lateNotice = notice;
    }

    /** Freezes the file systems with no time limit of its own (tests, tools). */
    public List<Path> freeze(List<Path> mounts) throws IOException {
        return freeze(mounts, java.time.Instant.MAX);
    }

    /**
     * Freezes the file systems, in order, by {@code deadline}. On failure thaws what it froze and throws; at the
     * deadline thaws what it froze and throws {@link FlushTimeoutException} (see the class comment).
     */
    public List<Path> freeze(List<Path> mounts, java.time.Instant deadline) throws IOException {
        if (mounts.isEmpty()) {
            return List.of();
        }
        synchronized (lateLock) {
            if (late > 0) {
                throw new FlushTimeoutException("a file system freeze abandoned at its deadline is still waiting for "
                        + "its flush in the kernel; retry when it is done (see the event log)");
            }
        }
        writeRecord(mounts);
        Freezes run = new Freezes(mounts);
        Thread.ofPlatform().daemon().name("fifreeze").start(run); // FIFREEZE blocks its thread, uninterruptibly
        synchronized (run) {
            try {
                long left;
                while (!run.done && (left = java.time.Duration.between(java.time.Instant.now(), deadline)
                        .toMillis()) > 0) {
                    run.wait(left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (run.done) {
                if (run.failure != null) {
                    thaw(run.frozen);
                    throw new IOException("cannot freeze the file system on " + mounts.get(run.frozen.size()) + ": "
                            + run.failure.getMessage(), run.failure);
                }
                return List.copyOf(run.frozen);
            }
            run.abandoned = true; // from here the freezing thread adds nothing to run.frozen
            synchronized (lateLock) {
                late++;
            }
        }
        // the record stays until the abandoned FIFREEZE has returned and been undone
        thawOnly(List.copyOf(run.frozen));
        throw new FlushTimeoutException("flushing and freezing the file system on " + run.current + " did not finish "
                + "in time (its device is not taking writes); nothing is left frozen, and the set was abandoned");
    }

    /** The freezes of one call, on their own thread; fields guarded by this object's monitor. */
    private final class Freezes implements Runnable {
        final List<Path> mounts;
        final List<Path> frozen = new ArrayList<>();
        Path current;
        IOException failure;
        boolean done;
        boolean abandoned;

        Freezes(List<Path> mounts) {
            this.mounts = mounts;
        }

        @Override
        public void run() {
            try {
                for (Path m : mounts) {
                    synchronized (this) {
                        if (abandoned) {
                            break;
                        }
                        current = m;
                    }
                    try {
                        NativeFile.freezeFileSystem(m);
                    } catch (IOException | RuntimeException e) {
                        synchronized (this) {
                            failure = e instanceof IOException io ? io : new IOException(e.toString(), e);
                        }
                        break;
                    }
                    boolean undo;
                    synchronized (this) {
                        undo = abandoned;
                        if (!undo) {
                            frozen.add(m);
                        }
                    }
                    if (undo) {
                        thawOnly(List.of(m));
                        lateNotice.accept("the file system on " + m + " was frozen after its set had been abandoned "
                                + "at the flush deadline; it was thawed at once");
                        break;
                    }
                }
            } finally {
                boolean wasAbandoned;
                synchronized (this) {
                    done = true;
                    wasAbandoned = abandoned;
                    notifyAll();
                }
                if (wasAbandoned) {
                    synchronized (lateLock) {
                        late--;
                        if (late == 0) {
                            try {
                                LocalStorage.INSTANCE.delete(record);
                            } catch (IOException e) {
                                LOG.log(System.Logger.Level.ERROR, "cannot remove {0}: {1}", record, e.getMessage());
                            }
                        }
                    }
                }
            }
        }
    }

    /** Thaws, logging failures (EINVAL: not frozen), and leaves the record alone. */
    private static void thawOnly(List<Path> frozen) {
        for (Path m : frozen) {
            try {
                NativeFile.thawFileSystem(m);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot thaw {0}: {1}", m, e.getMessage());
            }
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
        synchronized (lateLock) {
            if (late == 0) { // else an abandoned freeze still needs its record (it removes it when done)
                LocalStorage.INSTANCE.delete(record); // durable: the directory is synced
            }
        }
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
