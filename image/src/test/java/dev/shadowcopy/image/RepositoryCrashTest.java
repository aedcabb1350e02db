package dev.shadowcopy.image;

import dev.shadowcopy.image.manifest.BackupStore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.volume.FileDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 of a process making backups (and prunes) at random instants. After every kill: verify finds every
 * backup point whole, each point restores to exactly the volume content its attempt logged, every point the
 * child reported committed is there (or was pruned), and the next backup works. {@code -Dcrash.kills=N} for more.
 */
class RepositoryCrashTest {
    static final String JAVA = ProcessHandle.current().info().command().orElse("java");

    @TempDir
    Path dir;

    @Test
    void killedBackupsLeaveAConsistentRepository() throws Exception {
        int kills = Integer.getInteger("crash.kills", 12);
        Path repoDir = dir.resolve("repo");
        Repository.init(repoDir, new Repository.InitOptions(64 * 1024, 1, null, 0));
        Path volume = RepositoryDamageTest.makeVolume(dir.resolve("v.img"), 9);
        Path log = dir.resolve("child.log");
        Random r = new Random(Long.getLong("crash.seed", System.nanoTime()));
        int midBackup = 0;
        for (int k = 0; k < kills; k++) {
            Process p = new ProcessBuilder(JAVA, "-cp", System.getProperty("java.class.path"),
                    RepositoryCrashChild.class.getName(), repoDir.toString(), volume.toString(), log.toString(),
                    Long.toString(r.nextLong())).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("child.out").toFile())).start();
            // Wait until it is running (its "start" line), then kill it anywhere in a backup, a prune or a collection.
            int started = k + 1;
            long startDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (p.isAlive() && System.nanoTime() < startDeadline && (!Files.exists(log)
                    || Files.readAllLines(log).stream().filter(l -> l.startsWith("start ")).count() < started)) {
                Thread.sleep(5);
            }
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(r.nextInt(1000));
            while (System.nanoTime() < until && p.isAlive()) {
                Thread.onSpinWait();
                Thread.sleep(5);
            }
            assertTrue(p.isAlive(), "the child died by itself: " + Files.readString(dir.resolve("child.out")));
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            List<String> lines = Files.readAllLines(log);
            if (!lines.isEmpty() && lines.getLast().startsWith("try ")) {
                midBackup++;
            }
            check(repoDir, log);
        }
        System.out.println("repository crash test: " + kills + " kills, " + midBackup + " in the middle of a backup");
        assertTrue(kills < 8 || midBackup > 0, "no kill landed inside a backup");
        // The repository takes the next backup and collects the leftovers of the kills.
        Repository repo = Repository.open(repoDir, null);
        try (FileDevice dev = FileDevice.open(volume, true)) {
            BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource("v", "vol", "c", 1, dev, null)),
                    Instant.now(), "s", "backup", "crash-consistent", List.of(), Map.of(), "h", "after", false, 2,
                    Duration.ofSeconds(5)), Progress.NONE);
        }
        GarbageCollector.collect(repo, Duration.ofSeconds(5));
        try (var s = Files.list(repo.tmpDir())) {
            assertEquals(0, s.count(), "tmp/ is empty after garbage collection");
        }
        assertEquals(List.of(), BackupStore.of(repo).uncommitted(), "no partial backup directory after garbage "
                + "collection");
        check(repoDir, log);
    }

    private void check(Path repoDir, Path log) throws Exception {
        Repository repo = Repository.open(repoDir, null);
        Map<String, String> shaOfAttempt = new HashMap<>();
        Map<String, String> committed = new HashMap<>();
        if (Files.exists(log)) {
            for (String l : Files.readAllLines(log)) {
                String[] f = l.split(" ");
                if (f[0].equals("try") && f.length == 3) {
                    shaOfAttempt.put(f[1], f[2]);
                } else if (f[0].equals("done") && f.length == 3) {
                    committed.put(f[2], f[1]);
                }
            }
        }
        Verifier.Report rep = Verifier.verify(repo, null, 2, Duration.ofSeconds(5), Progress.NONE);
        assertTrue(rep.ok(), () -> "verify after a kill: " + rep.damagedBackups());
        List<String> ids = BackupStore.of(repo).ids();
        for (String id : ids) {
            Manifest m = BackupStore.of(repo).manifest(id);
            if (!m.label().startsWith("attempt ")) {
                continue;
            }
            String attempt = m.label().substring("attempt ".length());
            Path out = dir.resolve("restore.img");
            Files.deleteIfExists(out);
            try (FileDevice t = FileDevice.create(out, m.volume("v").size())) {
                Restorer.restore(repo, id, "v", t, new Restorer.Options(true, false, 2, Duration.ofSeconds(5)),
                        Progress.NONE);
            }
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(out)));
            assertEquals(shaOfAttempt.get(attempt), sha, "backup " + id + " restores to the volume of attempt " + attempt);
        }
        // Committed points may only have gone by a prune (which keeps the 3 newest).
        long missing = committed.keySet().stream().filter(id -> !ids.contains(id)).count();
        assertTrue(missing == 0 || ids.size() >= 3 || Files.readString(log).contains("pruned"),
                "committed backups vanished: " + committed.keySet() + " vs " + ids);
    }
}
