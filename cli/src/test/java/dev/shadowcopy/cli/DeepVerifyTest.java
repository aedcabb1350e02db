package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code backups verify --deep} and {@code backup --verify} against real file systems and real databases: sound ext4
 * and XFS backups, a PostgreSQL and a MariaDB backup are proven restorable (fsck clean, the database started and its
 * check clean); a backup of a wrecked ext4 and one whose database does not start fail, with exit status 1, an event,
 * and FAILED in {@code backups list}.
 */
@Tag("host")
class DeepVerifyTest {
    Path work;
    DaemonProcess daemon;
    Path repo;
    final List<String> cleanup = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        Host.requireRoot();
        for (String p : new String[] {"mkfs.ext4", "mkfs.xfs", "e2fsck", "xfs_repair", "blkid"}) {
            Host.requireProgram(p);
        }
        // outside JUnit's 0700 temp dir: the database server runs as its own user and must reach its files
        work = Files.createTempDirectory(Path.of("/tmp"), "sc-verify-");
        sh("chmod 755 " + work).ok();
        repo = work.resolve("repo");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (String c : cleanup.reversed()) {
            sh(c + " 2>/dev/null; true");
        }
        if (daemon != null) {
            daemon.close();
        }
        sh("for m in $(grep -o '" + work + "/[^ ]*' /proc/mounts | sort -r); do umount -l $m; done; rm -rf " + work
                + "; true");
    }

    void startDaemon(String writersJson) throws Exception {
        Path state = Files.createDirectories(work.resolve("state"));
        if (writersJson != null) {
            Files.writeString(state.resolve("writers.json"), writersJson);
        }
        daemon = new DaemonProcess(state).start();
    }

    /** A volume with a new file system of {@code type}, mounted at work/NAME; returns its loop device. */
    String fileSystem(String name, String size, String mkfs) throws Exception {
        daemon.cli("volume", "create", name, "--size", size).ok();
        String dev = daemon.cli("volume", "attach", name).ok().out().trim();
        Path mnt = Files.createDirectories(work.resolve(name));
        sh(mkfs + " " + dev + " >/dev/null && mount " + dev + " " + mnt).ok();
        cleanup.add("umount -l " + mnt);
        return dev;
    }

    JsonNode json(String... args) throws Exception {
        String[] a = new String[args.length + 1];
        System.arraycopy(args, 0, a, 0, args.length);
        a[args.length] = "--json";
        return Json.MAPPER.readTree(daemon.cli(a).ok().out());
    }

    List<String> eventTypes() throws Exception {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(daemon.state.resolve("events.log"))) {
            out.add(Json.MAPPER.readTree(line).path("type").asText());
        }
        return out;
    }

    @Test
    void soundExt4AndXfsBackupsPassAndAWreckedExt4Fails() throws Exception {
        startDaemon(null);
        String ext4 = fileSystem("e4", "64M", "mkfs.ext4 -q -F");
        fileSystem("xf", "320M", "mkfs.xfs -q -f");
        sh("for d in e4 xf; do seq 1 20000 > " + work + "/$d/numbers; mkdir " + work + "/$d/dir; cp /etc/services "
                + work + "/$d/dir/; done; sync").ok();
        String sound = json("backup", "--for", "e4,xf", "--repo", repo.toString()).path("backup").path("id").asText();

        DaemonProcess.Result ok = daemon.cli("backups", "verify", "--deep", sound, "--repo", repo.toString());
        assertEquals(0, ok.exit(), ok.toString());
        assertTrue(ok.out().contains("proven restorable") && ok.out().contains("ext4 clean")
                && ok.out().contains("xfs clean"), ok.out());

        // wreck the ext4: its group descriptors overwritten (the superblock, and so blkid, still say ext4)
        sh("umount " + work.resolve("e4") + " && dd if=/dev/urandom of=" + ext4 + " bs=4k seek=1 count=2 "
                + "oflag=direct conv=notrunc status=none && sync").ok();
        DaemonProcess.Result wrecked = daemon.cli("backup", "--for", "e4", "--repo", repo.toString(), "--verify");
        assertEquals(1, wrecked.exit(), "backup --verify says the new point is not restorable: " + wrecked);
        assertTrue(wrecked.out().contains("FAILED") && wrecked.out().contains("e2fsck"), wrecked.out());

        String table = daemon.cli("backups", "list", "--repo", repo.toString()).out();
        assertTrue(table.contains("VERIFIED") && table.contains("deep ok") && table.contains("FAILED"), table);
        assertTrue(eventTypes().contains("backup-verify-failed") && eventTypes().contains("backup-verified"));
        JsonNode verdicts = Json.MAPPER.readTree(daemon.cli("backups", "list", "--repo", repo.toString(), "--json")
                .out()).path("verdicts");
        assertTrue(verdicts.path(sound).path("ok").asBoolean(), verdicts.toString());
        assertEquals(1, daemon.cli("backups", "verify", "--deep", "--repo", repo.toString()).exit(),
                "verifying every point fails while one is not restorable");

        // a verifying schedule: each run's backup of the wrecked volume fails the run, and its retention (keep 1)
        // deletes nothing, so both of its points are still there
        daemon.cli("schedule", "add", "proven", "--for", "e4", "--calendar", "yearly", "--keep", "1", "--backup",
                "--repo", repo.toString(), "--verify").ok();
        assertTrue(daemon.cli("schedule", "list").out().contains("verified backup"));
        for (int i = 0; i < 2; i++) {
            JsonNode run = Json.MAPPER.readTree(daemon.cli("schedule", "run", "proven", "--json").out());
            assertFalse(run.path("ok").asBoolean(), run.toString());
            assertTrue(run.path("error").asText().contains("not proven restorable"), run.toString());
        }
        long kept = 0;
        for (JsonNode b : Json.MAPPER.readTree(daemon.cli("backups", "list", "--repo", repo.toString(), "--json")
                .out()).path("backups")) {
            kept += "schedule:proven".equals(b.path("label").asText(null)) ? 1 : 0;
        }
        assertEquals(2, kept, "a run whose backup is not proven restorable prunes nothing");
    }

    @Test
    void aPostgresBackupStartsCleanAndOneWhoseDatabaseDoesNotStartFails() throws Exception {
        String pg = DatabaseWritersTest.PG;
        Host.requireProgram("psql"); // the server binaries are in /usr/lib/postgresql/N/bin, off the PATH
        int port = 20000 + ThreadLocalRandom.current().nextInt(20000);
        Path logs = Files.createDirectories(work.resolve("logs"));
        Path sock = Files.createDirectories(work.resolve("pgsock"));
        sh("chmod 1777 " + logs + " && chown postgres: " + sock).ok();
        startDaemon("{\"postgresql\": [{\"name\": \"postgresql\", \"host\": \"" + sock + "\", \"port\": " + port
                + ", \"user\": \"postgres\", \"os_user\": \"postgres\", \"psql\": \"" + pg + "/psql\"}]}");
        fileSystem("pg", "256M", "mkfs.ext4 -q -F");
        Path data = work.resolve("pg").resolve("data");
        sh("chown postgres: " + work.resolve("pg")).ok();
        String asPg = "runuser -u postgres -- ";
        sh(asPg + pg + "/initdb -D " + data + " --auth=trust -N >/dev/null").ok();
        sh(asPg + pg + "/pg_ctl -D " + data + " -o \"-p " + port + " -k " + sock + " -c listen_addresses=''\" -w -l "
                + logs.resolve("pg.log") + " start").ok();
        cleanup.add(asPg + pg + "/pg_ctl -D " + data + " -m immediate stop");
        String psql = asPg + pg + "/psql -X -q -h " + sock + " -p " + port + " -U postgres -d postgres";
        sh(psql + " -c 'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g; "
                + "CREATE INDEX ON t (v);'").ok();

        DaemonProcess.Result sound = daemon.cli("backup", "--for", "pg", "--repo", repo.toString(), "--verify");
        assertEquals(0, sound.exit(), sound.toString());
        assertTrue(sound.out().contains("database postgresql") && sound.out().contains("pg_amcheck found nothing"),
                sound.out());

        // a setting only a start reads: the running server goes on, a server started from the backup cannot
        sh(psql + " -c \"ALTER SYSTEM SET shared_preload_libraries = 'shadowcopy_no_such_library'\"").ok();
        String broken = json("backup", "--for", "pg", "--repo", repo.toString()).path("backup").path("id").asText();
        sh(psql + " -c 'ALTER SYSTEM RESET shared_preload_libraries'").ok();
        DaemonProcess.Result failed = daemon.cli("backups", "verify", "--deep", broken, "--repo", repo.toString());
        assertEquals(1, failed.exit(), failed.toString());
        assertTrue(failed.out().contains("does not start") && failed.out().contains("shadowcopy_no_such_library"),
                failed.out());
    }

    @Test
    void aMariadbBackupStartsAndEveryTableChecksOk() throws Exception {
        for (String p : new String[] {"mariadbd", "mariadb-install-db", "mariadb-check", "mariadb-admin"}) {
            Host.requireProgram(p);
        }
        Path logs = Files.createDirectories(work.resolve("logs"));
        sh("chmod 1777 " + logs).ok();
        Path sock = logs.resolve("mysqld.sock");
        startDaemon("{\"mariadb\": [{\"name\": \"mariadb\", \"socket\": \"" + sock + "\", \"user\": \"root\"}]}");
        fileSystem("maria", "256M", "mkfs.ext4 -q -F");
        Path data = work.resolve("maria").resolve("data");
        sh("chown mysql: " + work.resolve("maria") + " && mariadb-install-db --user=mysql --datadir=" + data
                + " --auth-root-authentication-method=socket > " + logs.resolve("install.log") + " 2>&1").ok();
        sh("setsid mariadbd --no-defaults --user=mysql --datadir=" + data + " --socket=" + sock + " --skip-networking "
                + "--log-bin=" + data.resolve("binlog") + " --pid-file=" + logs.resolve("mariadb.pid") + " --log-error="
                + logs.resolve("mariadb.err") + " </dev/null >/dev/null 2>&1 &").ok();
        cleanup.add("mariadb-admin --no-defaults -S " + sock + " -uroot shutdown");
        String client = "mariadb --no-defaults -S " + sock + " -uroot";
        DaemonProcess.await(Duration.ofSeconds(60), () -> {
            try {
                return sh(client + " -e 'SELECT 1'").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        }, "mariadbd to start");
        sh(client + " -e 'CREATE DATABASE app; CREATE TABLE app.t (id BIGINT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB; "
                + "USE app; INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_20000'").ok();

        DaemonProcess.Result r = daemon.cli("backup", "--for", "maria", "--repo", repo.toString(), "--verify");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("database mariadb") && r.out().contains("every table checks OK"), r.out());
    }
}
