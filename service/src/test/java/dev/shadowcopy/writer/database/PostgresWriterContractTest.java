package dev.shadowcopy.writer.database;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.testing.Host;
import dev.shadowcopy.writer.VolumeLocator;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterCall;
import dev.shadowcopy.writer.WriterContract;
import dev.shadowcopy.writer.WriterEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The PostgreSQL writer keeps the writer contract against a real server (initdb'd for this test, run as the
 * postgres user on a Unix socket of its own): CHECKPOINT at PrepareForSnapshot, pg_backup_start at Freeze and
 * pg_backup_stop at Thaw on one kept session, whose backup an Abort ends.
 */
@Tag("host")
class PostgresWriterContractTest extends WriterContract {
    static Path work;
    static Path sock;
    static int port;
    static String pg;

    @BeforeAll
    static void startServer() throws Exception {
        Host.requireRoot();
        Host.requireProgram("runuser");
        pg = newestPostgres();
        if (pg == null) {
            Host.requireProgram("postgres"); // skips (or fails under -Dshadowcopy.host.required) with the reason
        }
        work = Files.createTempDirectory(Path.of("/tmp"), "sc-pg-contract-");
        sock = Files.createDirectories(work.resolve("sock"));
        Host.run("bash", "-c", "chmod 755 " + work + " && chown postgres: " + sock);
        port = 20000 + ThreadLocalRandom.current().nextInt(20000);
        Path data = work.resolve("data");
        Host.run("bash", "-c", "mkdir " + data + " && chown postgres: " + data + " && runuser -u postgres -- " + pg
                + "/initdb -D " + data + " --auth=trust -N >/dev/null");
        Host.run("bash", "-c", "runuser -u postgres -- " + pg + "/pg_ctl -D " + data + " -o \"-p " + port + " -k "
                + sock + " -c listen_addresses=''\" -w -l " + sock.resolve("pg.log") + " start >/dev/null");
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (work != null) {
            Host.run("bash", "-c", "runuser -u postgres -- " + pg + "/pg_ctl -D " + work.resolve("data")
                    + " -m immediate stop >/dev/null 2>&1; rm -rf " + work + "; true");
        }
    }

    /** The newest PostgreSQL installed by Debian's packages, or null. */
    static String newestPostgres() throws Exception {
        Path lib = Path.of("/usr/lib/postgresql");
        if (!Files.isDirectory(lib)) {
            return null;
        }
        try (var s = Files.list(lib)) {
            return s.filter(p -> Files.isExecutable(p.resolve("bin/postgres")))
                    .max(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString().replaceAll("\\D", "0"))))
                    .map(p -> p.resolve("bin").toString()).orElse(null);
        }
    }

    @Override
    protected Writer writer() throws Exception {
        Path state = Files.createDirectories(work.resolve("state-" + System.nanoTime()));
        Files.writeString(state.resolve(DatabaseWriterConfig.FILE), "{\"postgresql\": [{\"name\": \"postgresql\", "
                + "\"host\": \"" + sock + "\", \"port\": " + port + ", \"user\": \"postgres\", \"os_user\": "
                + "\"postgres\", \"psql\": \"" + pg + "/psql\"}]}");
        return DatabaseWriterConfig.load(state).writers(VolumeLocator.NONE).getFirst();
    }

    @Test
    void theBackupLabelOfFreezeToThawIsInTheComponentsDocument() throws Exception {
        Writer w = writer();
        var ctx = context();
        for (WriterEvent e : BACKUP) {
            WriterCall.Outcome o = send(w, e, ctx);
            assertTrue(o.ok(), e + ": " + o.message());
        }
        assertTrue(ctx.components().snapshot().toString().contains("START WAL LOCATION"),
                ctx.components().snapshot().toString());
    }
}
