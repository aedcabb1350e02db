package dev.shadowcopy.service.backup;

import dev.shadowcopy.platform.Programs;
import dev.shadowcopy.image.manifest.Verdicts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * A database a writer covered, started from a backup point (its file systems mounted read-write on throw-away
 * overlays, so crash recovery may write) and checked by its own tool: PostgreSQL with {@code pg_amcheck --all}, MariaDB
 * with {@code mariadb-check --all-databases}. A server that does not start, does not answer within a minute, or whose
 * check reports anything fails the verification with the server's last log lines.
 *
 * <p>The server runs as the owner of its data directory, on a Unix socket in a scratch directory, with no TCP port and
 * with our own minimal configuration (the cluster's {@code postgresql.auto.conf} still applies: a setting that stops
 * the real server from starting stops this one too, which is the point); it is stopped (fast shutdown) when the check
 * ends, whatever happened.
 */
final class DatabaseCheck {
    private static final Duration START = Duration.ofSeconds(60);
    private static final Duration CHECK = Duration.ofMinutes(30);

    private DatabaseCheck() {}

    // ---------------------------------------------------------------- PostgreSQL

    static Verdicts.Check postgres(String what, Path data, Path scratch) throws IOException {
        Path versionFile = data.resolve("PG_VERSION");
        if (!Files.isRegularFile(versionFile)) {
            return new Verdicts.Check(what, "postgres", false, data + " is not a PostgreSQL data directory (no "
                    + "PG_VERSION): the database does not start");
        }
        String version = Files.readString(versionFile).strip();
        if (!version.matches("\\d{1,3}(\\.\\d{1,3})?")) {
            // the backup's own text: it picks a directory of programs run by root, so only a version number will do
            return new Verdicts.Check(what, "postgres", false, "PG_VERSION does not hold a version number: the "
                    + "database does not start");
        }
        Path bin = Path.of("/usr/lib/postgresql", version, "bin");
        if (!Files.isExecutable(bin.resolve("postgres"))) {
            return new Verdicts.Check(what, "postgres", false, "PostgreSQL " + version + " is not installed here ("
                    + bin + "): its copy cannot be started to check it");
        }
        Owner owner = Owner.of(data);
        if (owner.uid() == 0) {
            return rootOwned(what, "postgres", data);
        }
        Files.deleteIfExists(data.resolve("postmaster.pid")); // the original server's, if the copy kept it
        Path sock = owner.directory(scratch);
        Path conf = owner.file(sock.resolve("postgresql.conf"), "");
        Path hba = owner.file(sock.resolve("pg_hba.conf"), "local all all trust\n");
        Path ident = owner.file(sock.resolve("pg_ident.conf"), "");
        Path log = sock.resolve("server.log");
        List<String> cmd = owner.as(bin.resolve("postgres").toString(), "-D", data.toString(),
                "-c", "config_file=" + conf, "-c", "hba_file=" + hba, "-c", "ident_file=" + ident,
                "-c", "listen_addresses=", "-c", "unix_socket_directories=" + sock, "-c", "port=5432",
                "-c", "fsync=off", "-c", "shared_buffers=32MB", "-c", "max_connections=20",
                "-c", "logging_collector=off", "-c", "archive_mode=off");
        Process server = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            Instant deadline = Instant.now().plus(START);
            while (true) {
                if (!server.isAlive()) {
                    return new Verdicts.Check(what, "postgres", false, "the database does not start: "
                            + tail(log, 6));
                }
                if (Program.run(Duration.ofSeconds(10), owner.as(bin.resolve("pg_isready").toString(), "-q", "-h",
                        sock.toString(), "-p", "5432")).ok()) {
                    break;
                }
                if (Instant.now().isAfter(deadline)) {
                    return new Verdicts.Check(what, "postgres", false, "the database did not accept connections "
                            + "within " + START.toSeconds() + " s: " + tail(log, 6));
                }
                sleep(200);
            }
            Program p = Program.run(CHECK, owner.as(bin.resolve("pg_amcheck").toString(), "-h", sock.toString(), "-p",
                    "5432", "-U", owner.name(), "--all", "--install-missing"));
            return p.ok() ? new Verdicts.Check(what, "pg_amcheck --all", true, "PostgreSQL " + version + " started "
                    + "(crash recovery done) and pg_amcheck found nothing")
                    : new Verdicts.Check(what, "pg_amcheck --all", false, "pg_amcheck exited " + p.exit() + ": "
                    + p.tail(8));
        } finally {
            stop(server, "-INT"); // fast shutdown
        }
    }

    // ---------------------------------------------------------------- MariaDB

    static Verdicts.Check mariadb(String what, Path data, String binlogFile, Path scratch) throws IOException {
        String server = Program.exists("/usr/sbin/mariadbd") ? "/usr/sbin/mariadbd" : "/usr/sbin/mysqld";
        if (!Program.exists(server) || !Program.exists("mariadb-check") || !Program.exists("mariadb-admin")) {
            return new Verdicts.Check(what, "mariadbd", false, "MariaDB (mariadbd, mariadb-check, mariadb-admin) is "
                    + "not installed here: its copy cannot be started to check it");
        }
        if (!Files.isDirectory(data.resolve("mysql"))) {
            return new Verdicts.Check(what, "mariadbd", false, data + " is not a MariaDB data directory (no mysql/): "
                    + "the database does not start");
        }
        Owner owner = Owner.of(data);
        if (owner.uid() == 0) {
            return rootOwned(what, "mariadbd", data);
        }
        Path dir = owner.directory(scratch);
        Path sock = dir.resolve("mysqld.sock");
        Path log = dir.resolve("server.log");
        List<String> cmd = new ArrayList<>(List.of(server, "--no-defaults", "--datadir=" + data, "--socket=" + sock,
                "--skip-networking", "--user=" + owner.name(), "--pid-file=" + dir.resolve("mysqld.pid"),
                "--log-error=" + log, "--innodb-buffer-pool-size=32M"));
        // the manifest's name of the binlog: a file of the data directory itself, never a path out of it
        if (binlogFile != null && binlogFile.contains(".") && binlogFile.matches("[A-Za-z0-9._-]+")
                && !binlogFile.startsWith(".")) {
            // a transaction prepared at the instant is decided from the binlog (docs/service.md)
            cmd.add("--log-bin=" + data.resolve(binlogFile.substring(0, binlogFile.lastIndexOf('.'))));
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("stdout.log").toFile())
                .start();
        try {
            Instant deadline = Instant.now().plus(START);
            while (!Program.run(Duration.ofSeconds(10), "mariadb-admin", "--no-defaults", "-S", sock.toString(),
                    "-u", "root", "ping").ok()) {
                if (!p.isAlive()) {
                    return new Verdicts.Check(what, "mariadbd", false, "the database does not start: " + tail(log, 6));
                }
                if (Instant.now().isAfter(deadline)) {
                    return new Verdicts.Check(what, "mariadbd", false, "the database did not accept connections "
                            + "within " + START.toSeconds() + " s: " + tail(log, 6));
                }
                sleep(200);
            }
            Program c = Program.run(CHECK, "mariadb-check", "--no-defaults", "-S", sock.toString(), "-u", "root",
                    "--all-databases");
            boolean clean = c.ok() && c.output().lines().noneMatch(l -> l.toLowerCase().contains("error")
                    || l.toLowerCase().contains("corrupt"));
            return clean ? new Verdicts.Check(what, "mariadb-check --all-databases", true, "MariaDB started (crash "
                    + "recovery done) and every table checks OK")
                    : new Verdicts.Check(what, "mariadb-check --all-databases", false, "mariadb-check exited "
                    + c.exit() + ": " + c.tail(8));
        } finally {
            Program.run(Duration.ofSeconds(60), "mariadb-admin", "--no-defaults", "-S", sock.toString(), "-u", "root",
                    "shutdown");
            stop(p, "-TERM");
        }
    }

    // ---------------------------------------------------------------- helpers

    /** The owner of a data directory: the server runs as it, and its scratch directory belongs to it. */
    private record Owner(String name, int uid, int gid) {
        static Owner of(Path data) throws IOException {
            int uid = (Integer) Files.getAttribute(data, "unix:uid", LinkOption.NOFOLLOW_LINKS);
            int gid = (Integer) Files.getAttribute(data, "unix:gid", LinkOption.NOFOLLOW_LINKS);
            return new Owner(Files.getOwner(data, LinkOption.NOFOLLOW_LINKS).getName(), uid, gid);
        }

        /**
         * A new directory {@code dir} (mode 0700) that belongs to this owner, in a scratch directory it can reach
         * (mode 0711: searchable, not listable).
         */
        Path directory(Path dir) throws IOException {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(
                    "rwx------")));
            own(dir);
            return dir;
        }

        /** A new file {@code file} holding {@code text}, readable by this owner only. */
        Path file(Path file, String text) throws IOException {
            Files.writeString(file, text);
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            own(file);
            return file;
        }

        private void own(Path p) throws IOException {
            Files.setAttribute(p, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
            Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        }

        /** {@code cmd} run as this owner (no supplementary groups). */
        List<String> as(String... cmd) {
            List<String> out = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + gid,
                    "--clear-groups", "--"));
            out.addAll(List.of(cmd));
            return out;
        }
    }

    /**
     * A data directory owned by root: the server would run as root on files that came from the backed-up host, so it
     * is not started (the real server never runs as root either).
     */
    private static Verdicts.Check rootOwned(String what, String tool, Path data) {
        return new Verdicts.Check(what, tool, false, data + " belongs to root on the copy: a database server is not "
                + "started as root, so the copy cannot be checked (its server runs as the data directory's owner)");
    }

    private static void stop(Process p, String signal) throws IOException {
        if (!p.isAlive()) {
            return;
        }
        Program.run(Duration.ofSeconds(10), "kill", signal, Long.toString(p.pid()));
        try {
            if (!p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static String tail(Path log, int lines) throws IOException {
        if (!Files.exists(log, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return "(no log)";
        }
        return new Program(0, Programs.tail(log)).tail(lines); // bounded, no link followed: the server's user wrote it
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }
}
