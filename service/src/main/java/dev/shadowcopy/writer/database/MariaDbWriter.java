package dev.shadowcopy.writer.database;

import dev.shadowcopy.writer.EventContext;
import dev.shadowcopy.writer.VolumeLocator;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterEvent;
import dev.shadowcopy.writer.WriterException;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterMetadata;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The MariaDB (and MySQL) writer.
 *
 * <ul>
 *   <li>Identify: the data directory, the InnoDB data and log directories and the binary log directory, with
 *       their volumes.</li>
 *   <li>PrepareForSnapshot: {@code FLUSH NO_WRITE_TO_BINLOG TABLES}, so the lock at Freeze has little to flush
 *       (what Percona's and MariaDB's backup tools do before their lock).</li>
 *   <li>Freeze: {@code FLUSH TABLES WITH READ LOCK} on a session kept open until Thaw, then the binary log
 *       position ({@code SHOW MASTER STATUS}, and the GTID position) into the backup components document.</li>
 *   <li>Thaw: {@code UNLOCK TABLES}; if the session died meanwhile the lock was lost at an unknown moment, so Thaw
 *       fails (retryable) and the set is aborted.</li>
 *   <li>Abort: the session is closed, which releases the lock.</li>
 * </ul>
 */
public final class MariaDbWriter implements Writer {
    private static final Duration QUERY = Duration.ofSeconds(30);

    private final DatabaseWriterConfig.MariaDb cfg;
    private final VolumeLocator locator;
    private SqlShell held;
    private String heldSet;

    public MariaDbWriter(DatabaseWriterConfig.MariaDb cfg, VolumeLocator locator) {
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
        cmd.add(cfg.client());
        if (cfg.defaultsFile() != null) {
            cmd.add("--defaults-extra-file=" + cfg.defaultsFile()); // must come first
        }
        cmd.addAll(List.of("--batch", "--skip-column-names", "--unbuffered", "--connect-timeout=10"));
        if (cfg.socket() != null) {
            cmd.add("--socket=" + cfg.socket());
        }
        if (cfg.host() != null) {
            cmd.addAll(List.of("--host=" + cfg.host(), "--port=" + cfg.port()));
        }
        if (cfg.user() != null) {
            cmd.add("--user=" + cfg.user());
        }
        return new SqlShell("writer " + name(), cmd, Map.of(), "SELECT '%s';");
    }

    @Override
    public WriterMetadata identify(Duration timeout) throws WriterException, InterruptedException {
        try (SqlShell s = open()) {
            String row = s.value("SELECT CONCAT_WS('|', @@datadir, IFNULL(@@innodb_data_home_dir, ''), "
                    + "IFNULL(@@innodb_log_group_home_dir, ''), IFNULL(@@log_bin_basename, ''));", QUERY);
            String[] f = row.split("\\|", -1);
            Path data = Path.of(f[0]);
            Set<Path> dirs = new LinkedHashSet<>();
            dirs.add(data.normalize());
            for (int i = 1; i < f.length; i++) {
                if (!f[i].isBlank()) {
                    Path p = data.resolve(f[i]);
                    dirs.add((i == 3 ? p.getParent() : p).normalize());
                }
            }
            List<WriterMetadata.FileSpec> files = new ArrayList<>();
            for (Path d : dirs) {
                if (!d.startsWith(data.normalize()) || d.equals(data.normalize())) {
                    files.add(new WriterMetadata.FileSpec(d.toString(), "*", true, locator.volumeOf(d).orElse(null)));
                }
            }
            return new WriterMetadata(name(), "user-data", "stop-restore-start", List.of(new WriterMetadata.Component(
                    "server", "mariadb", "database", false, files)), List.of());
        }
    }

    @Override
    public synchronized void handle(WriterEvent event, EventContext ctx) throws WriterException, InterruptedException {
        switch (event) {
            case PREPARE_FOR_SNAPSHOT -> {
                try (SqlShell s = open()) {
                    s.query("FLUSH NO_WRITE_TO_BINLOG TABLES;", Duration.between(Instant.now(), ctx.deadline()));
                }
            }
            case FREEZE -> freeze(ctx);
            case THAW -> thaw(ctx);
            case ABORT -> release();
            default -> { }
        }
    }

    private void freeze(EventContext ctx) throws WriterException, InterruptedException {
        release();
        SqlShell s = open();
        try {
            s.query("FLUSH TABLES WITH READ LOCK;", Duration.between(Instant.now(), ctx.deadline()));
            List<String> status = s.query("SHOW MASTER STATUS;", QUERY);
            if (!status.isEmpty()) {
                String[] f = status.getFirst().split("\t");
                ctx.components().put(name(), "binlog_file", f[0]);
                ctx.components().put(name(), "binlog_position", f.length > 1 ? f[1] : "");
            } else {
                ctx.components().put(name(), "binlog_file", "");
            }
            List<String> gtid = s.query("SELECT @@gtid_binlog_pos;", QUERY);
            if (!gtid.isEmpty()) {
                ctx.components().put(name(), "gtid_binlog_pos", gtid.getFirst().strip());
            }
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
            s.query("UNLOCK TABLES;", Duration.between(Instant.now(), ctx.deadline()));
        } finally {
            release();
        }
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
        return "MariaDB writer " + name();
    }
}
