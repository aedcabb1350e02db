package dev.shadowcopy.image;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.maintenance.Pruner;
import dev.shadowcopy.image.maintenance.Retention;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.volume.FileDevice;
import java.io.FileOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The process {@link RepositoryCrashTest} kills: forever, change the volume file a little, log the attempt
 * (number and SHA-256 of the volume, fsync'd) and back it up with the attempt number as label; now and then
 * prune. Args: repo, volume file, log file, seed.
 */
public final class RepositoryCrashChild {
    public static void main(String[] args) throws Exception {
        Path repoDir = Path.of(args[0]);
        Path volume = Path.of(args[1]);
        Path log = Path.of(args[2]);
        Random r = new Random(Long.parseLong(args[3]));
        Repository repo = Repository.open(repoDir, null);
        int attempt = Files.exists(log) ? (int) Files.readAllLines(log).stream().filter(l -> l.startsWith("try "))
                .count() : 0;
        try (FileDevice dev = FileDevice.open(volume, false); Arena arena = Arena.ofConfined();
             FileOutputStream logOut = new FileOutputStream(log.toFile(), true)) {
            logOut.write(("start " + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8));
            logOut.getFD().sync();
            while (true) {
                for (int i = 0; i < 1 + r.nextInt(6); i++) {
                    int len = 4096 * (1 + r.nextInt(64));
                    long off = (long) r.nextInt((int) (dev.size() - len)) / 4096 * 4096;
                    MemorySegment s = arena.allocate(len);
                    byte[] b = new byte[len];
                    r.nextBytes(b);
                    MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, len);
                    dev.write(off, s, false);
                }
                dev.flush();
                attempt++;
                String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                        .digest(Files.readAllBytes(volume)));
                logOut.write(("try " + attempt + " " + sha + "\n").getBytes(StandardCharsets.UTF_8));
                logOut.getFD().sync();
                var res = BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource("v", "vol", "c",
                        attempt, dev, null)), Instant.now(), "set", "backup", "crash-consistent", List.of(), Map.of(),
                        "h", "attempt " + attempt, false, 2, Duration.ofSeconds(30)), Progress.NONE);
                logOut.write(("done " + attempt + " " + res.manifest().id() + "\n").getBytes(StandardCharsets.UTF_8));
                logOut.getFD().sync();
                if (r.nextInt(5) == 0) {
                    Pruner.prune(repo, new Retention(3, 0, 0, 0, java.time.ZoneOffset.UTC), false, true,
                            Duration.ofSeconds(30));
                    logOut.write(("pruned " + attempt + "\n").getBytes(StandardCharsets.UTF_8));
                    logOut.getFD().sync();
                }
            }
        }
    }
}
