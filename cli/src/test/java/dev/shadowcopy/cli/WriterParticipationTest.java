package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hook writer whose metadata puts its files on one volume (ext4 on the attached volume {@code a}) takes part in
 * sets and backups of that volume only, as VSS writers do: a set of another volume sends it nothing after Identify,
 * records no writer and is crash-consistent. Its first backup is a full one for it and for the components document,
 * and the backup records its final state after BackupComplete.
 */
class WriterParticipationTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;
    Path mnt;
    Path log;

    @BeforeEach
    void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state")).start();
        daemon.cli("volume", "create", "a", "--size", "64M").ok();
        daemon.cli("volume", "create", "b", "--size", "16M").ok();
        String dev = daemon.cli("volume", "attach", "a").ok().out().trim();
        mnt = Files.createDirectories(tmp.resolve("mnt-a"));
        sh("mkfs.ext4 -q -F " + dev + " && mount " + dev + " " + mnt + " && mkdir " + mnt + "/data && echo x > "
                + mnt + "/data/f && sync").ok();
        log = tmp.resolve("hook.log");
        Path hooks = Files.createDirectories(daemon.state.resolve("hooks"));
        Files.writeString(hooks.resolve("app"), "#!/bin/bash\n"
                + "echo \"$1 $SHADOWCOPY_BACKUP_TYPE\" >> " + log + "\n"
                + "if [ \"$1\" = identify ]; then\n"
                + "  echo \"<writer-metadata name='app' usage='user-data' restore-method='custom'>"
                + "<component name='data' logical-path='app' type='filegroup' selectable='true'>"
                + "<file path='" + mnt.resolve("data") + "' filespec='*' recursive='true'/></component>"
                + "</writer-metadata>\"\n"
                + "fi\nexit 0\n");
        hooks.resolve("app").toFile().setExecutable(true);
    }

    @AfterEach
    void stop() throws Exception {
        sh("umount " + mnt + " 2>/dev/null; true");
        daemon.cli("volume", "detach", "a");
        daemon.close();
    }

    JsonNode json(String... args) throws Exception {
        String[] a = new String[args.length + 1];
        System.arraycopy(args, 0, a, 0, args.length);
        a[args.length] = "--json";
        return Json.MAPPER.readTree(daemon.cli(a).ok().out());
    }

    /** The hook's events since the last call, "event backup-type" per line. */
    List<String> hookEvents() throws Exception {
        List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
        Files.deleteIfExists(log);
        return lines.stream().map(String::strip).toList();
    }

    @Test
    void aHookTakesPartOnlyInSetsAndBackupsOfTheVolumeItsFilesAreOn() throws Exception {
        JsonNode other = json("create", "shadow", "--for", "b").path("shadows").get(0);
        assertEquals(List.of("identify"), hookEvents(), "left out of a set of b after identify");
        assertEquals(0, other.path("writers").size(), "and not recorded with its copy: " + other);
        assertEquals("crash", other.path("consistency").asText());

        JsonNode own = json("create", "shadow", "--for", "a").path("shadows").get(0);
        assertEquals(List.of("identify", "prepare-backup", "prepare-snapshot", "freeze", "thaw", "post-snapshot",
                "backup-complete", "backup-shutdown"), hookEvents().stream().map(l -> l.split(" ")[0]).toList(),
                "a one-shot set of a: the whole session");
        assertEquals("hook:app", own.path("writers").get(0).path("name").asText());
        assertEquals("application", own.path("consistency").asText());

        Path other2 = tmp.resolve("repo-b");
        daemon.cli("backup", "--for", "b", "--repo", other2.toString()).ok();
        assertEquals(List.of("identify"), hookEvents(), "no BackupComplete or BackupShutdown for a backup of b");

        Path repo = tmp.resolve("repo-a");
        JsonNode first = json("backup", "--for", "a", "--repo", repo.toString()).path("backup");
        assertEquals(List.of("identify", "prepare-backup full", "prepare-snapshot full", "freeze full", "thaw full",
                "post-snapshot full", "backup-complete full", "backup-shutdown full"), hookEvents(),
                "the first backup of a volume is a full one");
        assertEquals("full", first.path("components").path("backup_type").asText());
        assertEquals("application-consistent", first.path("consistency").asText());
        assertEquals(1, first.path("writers").size());
        assertEquals("stable", first.path("writers").get(0).path("state").asText(), "its final state, after "
                + "BackupComplete");
        JsonNode stored = Json.MAPPER.readTree(daemon.cli("backups", "show", first.path("id").asText(), "--repo",
                repo.toString()).ok().out());
        assertEquals("stable", stored.path("writers").get(0).path("state").asText(), "in the repository too");

        JsonNode second = json("backup", "--for", "a", "--repo", repo.toString()).path("backup");
        assertTrue(hookEvents().contains("prepare-backup incremental"));
        assertEquals("incremental", second.path("components").path("backup_type").asText());
    }
}
