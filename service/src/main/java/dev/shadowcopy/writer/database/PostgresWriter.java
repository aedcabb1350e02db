package dev.shadowcopy.writer.database;

import dev.shadowcopy.writer.EventContext;
import dev.shadowcopy.writer.VolumeLocator;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.writer.WriterException;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterMetadata;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The PostgreSQL writer (the VSS SQL writer's role for PostgreSQL).
 *
 * <ul>
 *   <li>Identify: the data directory, each tablespace and the WAL directory as files of one component, with the
 *       managed volumes they live on, and excludes postmaster.pid/opts (a server started from a copy must not see
 *       the original's lock file).</li>
 *   <li>PrepareForSnapshot: {@code CHECKPOINT}, so recovery from the copy has little WAL to replay.</li>
 *   <li>Freeze: {@code pg_backup_start(label, fast)} (non-exclusive) on a session kept open across the commit.</li>
 *   <li>Thaw: {@code pg_backup_stop()} on that same session; the backup label, the tablespace map and the WAL
 *       positions go into the backup components document. If the session died in between (server stopped,
 *       connection killed) Thaw fails, retryable, and the set is aborted.</li>
 *   <li>Abort: the held session is closed, which ends the backup on the server.</li>
 * </ul>
 * A copy of all the cluster's volumes taken at one instant is crash-consistent by itself; the backup held across
 * the instant adds the WAL positions a point-in-time recovery needs and forces full-page writes meanwhile.
 */
public final class PostgresWriter implements Writer {
    private static final Duration QUERY = Duration.ofSeconds(30);

    private final DatabaseWriterConfig.Postgres cfg;
    private final VolumeLocator locator;
    private SqlShell held;
    private String heldSet;
    /** The data directory as the last Identify found it. */
    private volatile Path dataDir;

    public PostgresWriter(DatabaseWriterConfig.Postgres cfg, VolumeLocator locator) {
        this.cfg = cfg;
        this.locator = locator;
    }

    @Override
    public String name() {
        return cfg.name();
    }

    @Override
    public String kind() {
        return "builtin";
    }

    private SqlShell open() throws WriterException {
        List<String> cmd = new ArrayList<>();
        if (cfg.osUser() != null && !cfg.osUser().isEmpty()) {
            cmd.addAll(List.of("runuser", "-u", cfg.osUser(), "--"));
        }
        // stdbuf: psql writes through stdio, which a pipe would buffer until exit.
        cmd.addAll(List.of("stdbuf", "-oL", cfg.psql(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", cfg.host(), "-p", Integer.toString(cfg.port()), "-U", cfg.user(), "-d", cfg.database()));
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PGAPPNAME", "shadowcopy-writer");
        env.put("PGCONNECT_TIMEOUT", "10");
        return new SqlShell("writer " + name(), cmd, env, "\\echo %s");
    }

    @Override
    public WriterMetadata identify(Duration timeout) throws WriterException, InterruptedException {
        try (SqlShell s = open()) {
            Path data = Path.of(s.value("SHOW data_directory;", QUERY));
            dataDir = data;
            List<WriterMetadata.FileSpec> files = new ArrayList<>();
            files.add(spec(data));
            Path wal = data.resolve("pg_wal");
            try {
                Path real = wal.toRealPath();
                if (!real.startsWith(data.toRealPath())) {
                    files.add(spec(real));
                }
            } catch (java.io.IOException e) {
                // not visible to us (another mount namespace): the data directory is all we can name
            }
            for (String loc : s.query("SELECT pg_tablespace_location(oid) FROM pg_tablespace "
                    + "WHERE pg_tablespace_location(oid) <> '';", QUERY)) {
                if (!loc.isBlank()) {
                    files.add(spec(Path.of(loc.strip())));
                }
            }
            String version = s.value("SHOW server_version;", QUERY);
            return new WriterMetadata(name(), "user-data", "stop-restore-start", List.of(new WriterMetadata.Component(
                    "cluster", "postgresql/" + version, "database", false, files)), List.of(
                    new WriterMetadata.FileSpec(data.toString(), "postmaster.pid", false),
                    new WriterMetadata.FileSpec(data.toString(), "postmaster.opts", false)));
        }
    }

    private WriterMetadata.FileSpec spec(Path p) {
        return new WriterMetadata.FileSpec(p.toString(), "*", true, locator.volumeOf(p).orElse(null));
    }

    @Override
    public synchronized void handle(WriterEvent event, EventContext ctx) throws WriterException, InterruptedException {
        switch (event) {
            case PREPARE_FOR_SNAPSHOT -> {
                try (SqlShell s = open()) {
                    s.query("CHECKPOINT;", Duration.between(Instant.now(), ctx.deadline()));
                }
            }
            case FREEZE -> freeze(ctx);
            case THAW -> thaw(ctx);
            case POST_SNAPSHOT -> recover(ctx);
            case ABORT -> release();
            default -> { }
        }
    }

    @Override
    public boolean autoRecovery() {
        return true;
    }

    /**
     * Auto-recovery: the copy's data directory is writable now. The original server's {@code postmaster.pid}
     * names a live process, so a server started on the copy would refuse to start: remove it (and
     * {@code postmaster.opts}). The backup label is <em>not</em> written into the copy: with it, recovery would
     * insist on replaying WAL up to {@code pg_backup_stop}'s end-of-backup record, which was written after the
     * instant and is not in the copy; without it, the copy (all of the cluster's volumes at one instant) starts
     * by ordinary crash recovery. The label stays in the backup components document for archive-based recovery.
     */
    private void recover(EventContext ctx) throws WriterException {
        Path data = dataDir;
        if (data == null || ctx.recoveryMounts().isEmpty()) {
            return;
        }
        String best = null;
        for (String m : ctx.recoveryMounts().keySet()) {
            if (data.startsWith(m) && (best == null || m.length() > best.length())) {
                best = m;
            }
        }
        if (best == null) {
            return; // the data directory is on no volume of this set
        }
        Path copy = Path.of(ctx.recoveryMounts().get(best)).resolve(Path.of(best).relativize(data));
        try {
            boolean pid = Files.deleteIfExists(copy.resolve("postmaster.pid"));
            Files.deleteIfExists(copy.resolve("postmaster.opts"));
            ctx.components().put(name(), "auto_recovery", pid ? "removed postmaster.pid from the copy"
                    : "nothing to change");
        } catch (java.io.IOException e) {
            throw new WriterException(WriterFailure.NONRETRYABLE, "writer " + name() + ": cannot clean the copy's "
                    + "data directory " + copy + ": " + e.getMessage());
        }
    }

    private void freeze(EventContext ctx) throws WriterException, InterruptedException {
        release();
        SqlShell s = open();
        try {
            int version = Integer.parseInt(s.value("SHOW server_version_num;", QUERY));
            String label = "shadowcopy set " + ctx.setId();
            Duration left = Duration.between(Instant.now(), ctx.deadline());
            String start = version >= 150000
                    ? s.value("SELECT pg_backup_start('" + label + "', true);", left)
                    : s.value("SELECT pg_start_backup('" + label + "', true, false);", left);
            String atFreeze = s.value("SELECT pg_current_wal_insert_lsn();", QUERY);
            ctx.components().put(name(), "server_version_num", Integer.toString(version));
            ctx.components().put(name(), "start_lsn", start);
            ctx.components().put(name(), "lsn_at_freeze", atFreeze);
            held = s;
            heldSet = String.valueOf(ctx.setId());
        } catch (WriterException | InterruptedException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private void thaw(EventContext ctx) throws WriterException, InterruptedException {
        SqlShell s = held;
        if (s == null || !heldSet.equals(String.valueOf(ctx.setId()))) {
            throw new WriterException(WriterFailure.NONRETRYABLE, "writer " + name() + " got thaw without its freeze");
        }
        try {
            int version = Integer.parseInt(ctx.components().of(name()).getOrDefault("server_version_num", "150000"));
            String fn = version >= 150000 ? "pg_backup_stop(false)" : "pg_stop_backup(false, false)";
            String row = s.value("SELECT lsn || '|' || translate(encode(convert_to(labelfile, 'UTF8'), 'base64'), "
                    + "E'\\n', '') || '|' || translate(encode(convert_to(coalesce(spcmapfile, ''), 'UTF8'), "
                    + "'base64'), E'\\n', '') FROM " + fn + ";", Duration.between(Instant.now(), ctx.deadline()));
            String[] f = row.split("\\|", -1);
            if (f.length != 3) {
                throw new WriterException(WriterFailure.NONRETRYABLE, "writer " + name() + ": unexpected answer from "
                        + fn + ": " + row);
            }
            ctx.components().put(name(), "stop_lsn", f[0]);
            ctx.components().put(name(), "backup_label", decode(f[1]));
            ctx.components().put(name(), "tablespace_map", decode(f[2]));
        } finally {
            release();
        }
    }

    private static String decode(String b64) {
        return new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
    }

    private void release() {
        if (held != null) {
            held.close();
            held = null;
            heldSet = null;
        }
    }

    @Override
    public String toString() {
        return "PostgreSQL writer " + name() + " (" + cfg.host() + ":" + cfg.port() + ")";
    }
}
