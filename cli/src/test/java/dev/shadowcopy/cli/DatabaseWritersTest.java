package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The database writers against real servers started by the test: PostgreSQL under pgbench and MariaDB under an
 * insert load, each with its data directory on ext4 on an attached managed volume. Every shadow copy is copied
 * out over NBD, mounted, and started as a second server, which must start, hold every transaction acknowledged
 * before the copy was requested, and pass pg_amcheck / CHECK TABLE. A database stopped mid-freeze aborts the set
 * cleanly and the retry succeeds.
 */
class DatabaseWritersTest {
    /** The newest PostgreSQL installed by Debian's packages ({@code /usr/lib/postgresql/N/bin}). */
    static final String PG = newestPostgres();

    static String newestPostgres() {
        try (var s = Files.list(Path.of("/usr/lib/postgresql"))) {
            return s.filter(p -> Files.isExecutable(p.resolve("bin/postgres")))
                    .max(java.util.Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString()
                            .replaceAll("\\D", "0"))))
                    .map(p -> p.resolve("bin").toString()).orElse("/usr/lib/postgresql/15/bin");
        } catch (java.io.IOException e) {
            return "/usr/lib/postgresql/15/bin";
        }
    }

    Path work;
    Path logs;
    DaemonProcess daemon;
    final List<Process> spawned = new ArrayList<>();
    final List<String> cleanup = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        // Outside JUnit's 0700 temp dir: the database servers run as their own users and must reach it.
        work = Files.createTempDirectory(Path.of("/tmp"), "sc-db-");
        logs = work.resolve("logs"); // server logs, pid files and sockets: writable by the servers' users
        Files.createDirectories(logs);
        sh("chmod 755 " + work + " && chmod 1777 " + logs).ok();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : spawned) {
            sh("kill -9 -- -" + p.pid() + " 2>/dev/null; true");
            p.destroyForcibly();
        }
        for (String c : cleanup.reversed()) {
            sh(c + " 2>/dev/null; true");
        }
        if (daemon != null) {
            daemon.close();
        }
        sh("for m in $(grep -o '" + work + "/[^ ]*' /proc/mounts | sort -r); do umount -l $m; done; rm -rf " + work
                + "; true");
    }

    JsonNode json(String... args) throws Exception {
        String[] a = new String[args.length + 1];
        System.arraycopy(args, 0, a, 0, args.length);
        a[args.length] = "--json";
        return Json.MAPPER.readTree(daemon.cli(a).ok().out());
    }

    /** Starts the daemon with a writers.json, creates and mounts an ext4 volume at work/NAME owned by USER. */
    Path volume(String name, String user) throws Exception {
        daemon.cli("volume", "create", name, "--size", "512M").ok();
        String dev = daemon.cli("volume", "attach", name).ok().out().trim();
        cleanup.add("umount -l " + work.resolve(name));
        Path mnt = Files.createDirectories(work.resolve(name));
        sh("mkfs.ext4 -q -F " + dev + " && mount " + dev + " " + mnt + " && chown " + user + ": " + mnt).ok();
        return mnt;
    }

    void startDaemon(String writersJson) throws Exception {
        Path state = work.resolve("state");
        Files.createDirectories(state);
        Files.writeString(state.resolve("writers.json"), writersJson);
        daemon = new DaemonProcess(state).start();
    }

    /** Copies a shadow copy out over NBD to an image and mounts it read-write at work/NAME. */
    Path copyOut(String shadowId, String name) throws Exception {
        Path img = work.resolve(name + ".img");
        sh("nbdcopy 'nbd+unix:///shadow/" + shadowId + "?socket=" + daemon.state.resolve("nbd.sock") + "' " + img).ok();
        Path m = Files.createDirectories(work.resolve(name));
        sh("mount -o loop " + img + " " + m).ok();
        cleanup.add("umount -l " + m);
        return m;
    }

    Process background(String script) throws Exception {
        Process p = new ProcessBuilder("setsid", "bash", "-c", script).redirectErrorStream(true)
                .redirectOutput(work.resolve("load-" + spawned.size() + ".log").toFile()).start();
        spawned.add(p);
        return p;
    }

    static long lastAck(Path ack) throws Exception {
        return Files.exists(ack) ? Long.parseLong(Files.readString(ack).strip()) : 0;
    }

    // ------------------------------------------------------------------ PostgreSQL

    @Test
    void postgresCopiesTakenUnderPgbenchStartCleanWithEveryAcknowledgedTransaction() throws Exception {
        int port = 20000 + ThreadLocalRandom.current().nextInt(20000);
        Path sock = Files.createDirectories(work.resolve("pgsock"));
        sh("chown postgres: " + sock).ok();
        startDaemon("{\"postgresql\": [{\"name\": \"postgresql\", \"host\": \"" + sock + "\", \"port\": " + port
                + ", \"user\": \"postgres\", \"os_user\": \"postgres\", \"psql\": \"" + PG + "/psql\"}]}");
        Path mnt = volume("pg", "postgres");
        Path data = mnt.resolve("data");
        String asPg = "runuser -u postgres -- ";
        sh(asPg + PG + "/initdb -D " + data + " --auth=trust -N >/dev/null").ok();
        String opts = "-p " + port + " -k " + sock + " -c listen_addresses=''";
        sh(asPg + PG + "/pg_ctl -D " + data + " -o \"" + opts + "\" -w -l " + logs.resolve("pg.log") + " start").ok();
        cleanup.add(asPg + PG + "/pg_ctl -D " + data + " -m immediate stop");
        String psql = asPg + PG + "/psql -X -q -h " + sock + " -p " + port + " -U postgres -d postgres";
        sh(psql + " -c 'CREATE TABLE acks (id bigint PRIMARY KEY)'").ok();
        sh(asPg + PG + "/pgbench -q -i -s 2 -h " + sock + " -p " + port + " -U postgres postgres").ok();
        background(asPg + PG + "/pgbench -n -c 2 -T 300 -h " + sock + " -p " + port + " -U postgres postgres");
        Path ack = work.resolve("ack");
        background("i=0; while true; do i=$((i+1)); " + psql + " -c \"INSERT INTO acks VALUES ($i)\" && echo $i > "
                + ack + ".tmp && mv " + ack + ".tmp " + ack + "; done");
        await(Duration.ofSeconds(30), () -> Files.exists(ack), "acknowledged inserts");

        // The writer's metadata names the data directory and its volume.
        String writers = daemon.cli("list", "writers").ok().out();
        assertTrue(writers.contains("postgresql"), writers);

        for (int round = 1; round <= 3; round++) {
            long acked = lastAck(ack);
            JsonNode set = json("create", "shadow", "--for", "pg");
            JsonNode copy = set.path("shadows").get(0);
            assertEquals("application", copy.path("consistency").asText(), set.toString());
            // Auto-recovery: the writer removed the original's lock file from the copy before it was sealed.
            assertTrue(copy.path("attribute_names").toString().contains("Auto-recovered"), copy.toString());
            Path c = copyOut(copy.path("id").asText(), "pgcopy" + round);
            assertFalse(Files.exists(c.resolve("data/postmaster.pid")), "postmaster.pid in the copy");
            assertTrue(Files.exists(mnt.resolve("data/postmaster.pid")), "the live server's lock file is untouched");
            int port2 = port + round;
            Path sock2 = Files.createDirectories(work.resolve("pgsock" + round));
            sh("chown postgres: " + sock2).ok();
            Path log2 = logs.resolve("pgcopy" + round + ".log");
            sh(asPg + PG + "/pg_ctl -D " + c.resolve("data") + " -o \"-p " + port2 + " -k " + sock2
                    + " -c listen_addresses=''\" -w -t 120 -l " + log2 + " start").ok();
            cleanup.add(asPg + PG + "/pg_ctl -D " + c.resolve("data") + " -m immediate stop");
            String psql2 = asPg + PG + "/psql -X -q -A -t -h " + sock2 + " -p " + port2 + " -U postgres -d postgres";
            String present = sh(psql2 + " -c 'SELECT count(*) FROM acks WHERE id <= " + acked + "'").ok().out().strip();
            assertEquals(Long.toString(acked), present, "round " + round + ": every acknowledged insert up to "
                    + acked + " is in the copy");
            sh(asPg + PG + "/pg_amcheck -h " + sock2 + " -p " + port2 + " -U postgres --install-missing --all").ok();
            String log = Files.readString(log2);
            assertFalse(log.contains("PANIC") || log.contains("FATAL") || log.contains("ERROR:"), log);
            sh(asPg + PG + "/pg_ctl -D " + c.resolve("data") + " -m fast stop").ok();
            assertTrue(lastAck(ack) > acked, "the application kept writing");
        }

        // A backup through the writer keeps pg_backup_stop's label in the backup components document.
        Path repo = work.resolve("repo");
        daemon.cli("backup", "--for", "pg", "--repo", repo.toString()).ok();
        JsonNode m = Json.MAPPER.readTree(daemon.cli("backups", "show", "latest", "--repo", repo.toString()).ok().out());
        assertEquals("application-consistent", m.path("consistency").asText());
        JsonNode pgc = m.path("components").path("writers").path("postgresql");
        assertTrue(pgc.path("backup_label").asText().contains("START WAL LOCATION"), m.toString());
        assertFalse(pgc.path("stop_lsn").asText().isEmpty());
        assertTrue(m.path("writers").get(0).path("metadata").asText().contains("volume=\"pg\""), m.toString());

        // The database stopped while the set is frozen: Thaw finds its session gone; the set is aborted.
        Path hooks = Files.createDirectories(daemon.state.resolve("hooks"));
        Path frozen = work.resolve("frozen");
        Path go = work.resolve("go");
        Path hook = hooks.resolve("hold");
        Files.writeString(hook, "#!/bin/bash\nif [ \"$1\" = freeze ]; then touch " + frozen + "; for i in $(seq 300); do "
                + "[ -e " + go + " ] && exit 0; sleep 0.1; done; fi\nexit 0\n");
        hook.toFile().setExecutable(true);
        int before = json("list", "shadows").path("shadows").size();
        Process create = daemon.cliProcess("create", "shadow", "--for", "pg");
        spawned.add(create);
        await(Duration.ofSeconds(60), () -> Files.exists(frozen), "the set to reach freeze");
        sh(asPg + PG + "/pg_ctl -D " + data + " -m immediate stop").ok();
        Files.createFile(go);
        DaemonProcess.Result r = DaemonProcess.finish(create, Duration.ofSeconds(90));
        assertNotEquals(0, r.exit(), r.out());
        assertTrue(r.err().contains("postgresql") && r.err().contains("lost"), r.err());
        assertEquals(before, json("list", "shadows").path("shadows").size(), "no copy from the aborted set");
        Files.delete(hook);
        sh(asPg + PG + "/pg_ctl -D " + data + " -o \"" + opts + "\" -w -l " + logs.resolve("pg.log") + " start").ok();
        JsonNode retry = json("create", "shadow", "--for", "pg");
        assertEquals("application", retry.path("shadows").get(0).path("consistency").asText());
    }

    @Test
    void aSetMissingOneOfTheDatabasesVolumesIsRefused() throws Exception {
        int port = 20000 + ThreadLocalRandom.current().nextInt(20000);
        Path sock = Files.createDirectories(work.resolve("pgsock"));
        sh("chown postgres: " + sock).ok();
        startDaemon("{\"postgresql\": [{\"name\": \"postgresql\", \"host\": \"" + sock + "\", \"port\": " + port
                + ", \"psql\": \"" + PG + "/psql\"}]}");
        Path mnt = volume("pgdata", "postgres");
        Path wal = volume("pgwal", "postgres");
        daemon.cli("volume", "create", "other", "--size", "64M").ok();
        String asPg = "runuser -u postgres -- ";
        sh(asPg + PG + "/initdb -D " + mnt.resolve("data") + " -X " + wal.resolve("wal") + " --auth=trust -N >/dev/null")
                .ok();
        sh(asPg + PG + "/pg_ctl -D " + mnt.resolve("data") + " -o \"-p " + port + " -k " + sock
                + " -c listen_addresses=''\" -w -l " + logs.resolve("pg.log") + " start").ok();
        cleanup.add(asPg + PG + "/pg_ctl -D " + mnt.resolve("data") + " -m immediate stop");
        DaemonProcess.Result partial = daemon.cli("create", "shadow", "--for", "pgdata");
        assertNotEquals(0, partial.exit());
        assertTrue(partial.err().contains("INCONSISTENTSNAPSHOT") && partial.err().contains("pgwal"), partial.err());
        json("create", "shadow", "--for", "pgdata,pgwal"); // both: fine
        JsonNode unrelated = json("create", "shadow", "--for", "other"); // none of its volumes: not involved
        assertEquals("crash", unrelated.path("shadows").get(0).path("consistency").asText(), unrelated.toString());
    }

    // ------------------------------------------------------------------ MariaDB

    @Test
    void mariadbCopiesTakenUnderLoadRecoverCleanAtTheRecordedBinlogPosition() throws Exception {
        Path sock = logs.resolve("mysqld.sock");
        startDaemon("{\"mariadb\": [{\"name\": \"mariadb\", \"socket\": \"" + sock + "\", \"user\": \"root\"}]}");
        Path mnt = volume("maria", "mysql");
        Path data = mnt.resolve("data");
        sh("mariadb-install-db --user=mysql --datadir=" + data + " --auth-root-authentication-method=socket "
                + "> " + work.resolve("install.log") + " 2>&1").ok();
        String server = "mariadbd --user=mysql --datadir=" + data + " --socket=" + sock + " --skip-networking "
                + "--log-bin=" + data.resolve("binlog") + " --pid-file=" + logs.resolve("mariadb.pid")
                + " --log-error=" + logs.resolve("mariadb.err");
        Process srv = background(server);
        cleanup.add("kill -9 $(cat " + logs.resolve("mariadb.pid") + ")");
        String client = "mariadb --socket=" + sock + " -uroot";
        await(Duration.ofSeconds(60), () -> {
            try {
                return sh(client + " -e 'SELECT 1'").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        }, "mariadbd to start");
        sh(client + " -e 'CREATE DATABASE app; CREATE TABLE app.acks (id BIGINT PRIMARY KEY, pad VARCHAR(200)) "
                + "ENGINE=InnoDB; CREATE TABLE app.notes (id BIGINT PRIMARY KEY, body TEXT) ENGINE=Aria'").ok();
        Path ack = work.resolve("ack");
        background("i=0; while true; do i=$((i+1)); " + client + " -e \"INSERT INTO app.acks VALUES ($i, REPEAT('x', 150)); "
                + "INSERT INTO app.notes VALUES ($i, 'note $i')\" && echo $i > " + ack + ".tmp && mv " + ack + ".tmp "
                + ack + "; done");
        await(Duration.ofSeconds(30), () -> Files.exists(ack), "acknowledged inserts");
        Path repo = work.resolve("repo");
        for (int round = 1; round <= 2; round++) {
            long acked = lastAck(ack);
            // A backup records the binlog position of its instant; a copy is what we start.
            JsonNode b = json("backup", "--for", "maria", "--repo", repo.toString());
            JsonNode comp = b.path("backup").path("components").path("writers").path("mariadb");
            String file = comp.path("binlog_file").asText();
            long pos = comp.path("binlog_position").asLong();
            assertFalse(file.isEmpty(), b.toString());
            assertEquals("application-consistent", b.path("backup").path("consistency").asText());
            Path img = work.resolve("maria" + round + ".img");
            daemon.cli("restore", "latest", "--volume", "maria", "--repo", repo.toString(), "--to", img.toString()).ok();
            Path c = Files.createDirectories(work.resolve("mariacopy" + round));
            sh("mount -o loop " + img + " " + c).ok();
            cleanup.add("umount -l " + c);
            // The binary log in the copy ends exactly at the recorded position.
            assertEquals(pos, Files.size(c.resolve("data").resolve(file)), "binlog " + file + " in round " + round);
            Path sock2 = logs.resolve("copy" + round + ".sock");
            Path pid2 = logs.resolve("copy" + round + ".pid");
            // Same binlog settings as the original: crash recovery decides transactions that were prepared but not
            // yet in the binlog at the instant by reading it (without it the server refuses to start).
            background("mariadbd --user=mysql --datadir=" + c.resolve("data") + " --socket=" + sock2
                    + " --log-bin=" + c.resolve("data/binlog") + " --skip-networking --pid-file=" + pid2 + " --log-error=" + logs.resolve("copy" + round + ".err"));
            cleanup.add("kill -9 $(cat " + pid2 + ")");
            String client2 = "mariadb --socket=" + sock2 + " -uroot";
            try {
                await(Duration.ofSeconds(60), () -> {
                    try {
                        return sh(client2 + " -e 'SELECT 1'").exit() == 0;
                    } catch (Exception e) {
                        return false;
                    }
                }, "the copy's mariadbd to start");
            } catch (AssertionError e) {
                Path err = logs.resolve("copy" + round + ".err");
                throw new AssertionError(e.getMessage() + "\n" + (Files.exists(err) ? Files.readString(err) : "no log")
                        + "\n" + sh("ls -la " + c + " " + c.resolve("data")).out());
            }
            String check = sh(client2 + " -N -e 'CHECK TABLE app.acks, app.notes'").ok().out();
            assertTrue(check.lines().allMatch(l -> l.endsWith("OK")), check);
            String n = sh(client2 + " -N -e 'SELECT COUNT(*) FROM app.acks WHERE id <= " + acked + "'").ok().out().strip();
            assertEquals(Long.toString(acked), n, "every acknowledged insert up to " + acked);
            String notes = sh(client2 + " -N -e 'SELECT COUNT(*) FROM app.notes WHERE id <= " + acked + "'").ok().out()
                    .strip();
            assertEquals(Long.toString(acked), notes, "the non-transactional table too (flushed under the lock)");
            sh("kill $(cat " + pid2 + ")").ok();
            assertTrue(lastAck(ack) > acked, "the application kept writing");
        }
        assertTrue(srv.isAlive());
    }
}
