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
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The MariaDB writer keeps the writer contract against a real server (installed into a data directory of this
 * test, on a socket of its own, with a binary log): FLUSH TABLES at PrepareForSnapshot, FLUSH TABLES WITH READ LOCK
 * at Freeze and UNLOCK TABLES at Thaw on one session, whose lock an Abort releases.
 */
@Tag("host")
class MariaDbWriterContractTest extends WriterContract {
    static Path work;
    static Path sock;
    static Process server;

    @BeforeAll
    static void startServer() throws Exception {
        Host.requireRoot();
        Host.requireProgram("mariadbd");
        Host.requireProgram("mariadb-install-db");
        Host.requireProgram("mariadb");
        work = Files.createTempDirectory(Path.of("/tmp"), "sc-maria-contract-");
        Path data = work.resolve("data");
        Path run = Files.createDirectories(work.resolve("run"));
        Host.run("bash", "-c", "chmod 755 " + work + " && chmod 1777 " + run + " && mariadb-install-db --user=mysql "
                + "--datadir=" + data + " --auth-root-authentication-method=socket > " + run.resolve("install.log")
                + " 2>&1");
        sock = run.resolve("mysqld.sock");
        server = new ProcessBuilder("mariadbd", "--user=mysql", "--datadir=" + data, "--socket=" + sock,
                "--skip-networking", "--log-bin=" + data.resolve("binlog"), "--pid-file=" + run.resolve("pid"),
                "--log-error=" + run.resolve("err.log")).redirectErrorStream(true)
                .redirectOutput(run.resolve("out.log").toFile()).start();
        Instant until = Instant.now().plus(Duration.ofSeconds(60));
        while (true) {
            try {
                Host.run("mariadb", "--socket=" + sock, "-uroot", "-e", "SELECT 1");
                break;
            } catch (java.io.IOException e) {
                if (Instant.now().isAfter(until) || !server.isAlive()) {
                    throw new AssertionError("mariadbd did not start: " + Files.readString(run.resolve("err.log")), e);
                }
                Thread.sleep(200);
            }
        }
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null) {
            server.destroyForcibly();
            server.waitFor();
        }
        if (work != null) {
            Host.run("bash", "-c", "rm -rf " + work + "; true");
        }
    }

    @Override
    protected Writer writer() throws Exception {
        Path state = Files.createDirectories(work.resolve("state-" + System.nanoTime()));
        Files.writeString(state.resolve(DatabaseWriterConfig.FILE), "{\"mariadb\": [{\"name\": \"mariadb\", "
                + "\"socket\": \"" + sock + "\", \"user\": \"root\"}]}");
        return DatabaseWriterConfig.load(state).writers(VolumeLocator.NONE).getFirst();
    }

    @Test
    void theBinlogPositionOfTheFreezeIsInTheComponentsDocument() throws Exception {
        Writer w = writer();
        var ctx = context();
        for (WriterEvent e : BACKUP) {
            WriterCall.Outcome o = send(w, e, ctx);
            assertTrue(o.ok(), e + ": " + o.message());
        }
        assertTrue(ctx.components().snapshot().toString().contains("binlog_file"), ctx.components().snapshot()
                .toString());
    }
}
