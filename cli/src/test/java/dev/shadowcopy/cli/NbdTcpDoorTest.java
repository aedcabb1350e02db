package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.testing.Host;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * NBD over TCP is served only with TLS and a client certificate signed by the configured CA (as
 * {@code qemu-nbd --tls-creds} with peer verification), unless the admin says {@code --nbd-tcp-insecure}.
 * Checked with libnbd's nbdinfo and with raw bytes.
 */
@Tag("host")
class NbdTcpDoorTest {
    static final long IHAVEOPT = 0x49484156454F5054L;
    static final int OPT_EXPORT_NAME = 1;
    static final int OPT_GO = 7;
    static final int REP_ERR_TLS_REQD = 0x80000005;

    @TempDir
    Path tmp;
    Path server;
    Path client;
    Path stranger;
    DaemonProcess daemon;

    @BeforeEach
    void certificates() throws Exception {
        Host.requireProgram("openssl");
        Host.requireProgram("nbdinfo");
        server = Files.createDirectories(tmp.resolve("server"));
        client = Files.createDirectories(tmp.resolve("client"));
        stranger = Files.createDirectories(tmp.resolve("stranger"));
        Path work = Files.createDirectories(tmp.resolve("ca"));
        String ca = ca(work, "ca");
        Files.copy(Path.of(ca + "-cert.pem"), server.resolve("ca-cert.pem"));
        Files.copy(Path.of(ca + "-cert.pem"), client.resolve("ca-cert.pem"));
        Files.copy(Path.of(ca + "-cert.pem"), stranger.resolve("ca-cert.pem"));
        Files.copy(Path.of(ca + "-cert.pem"), Files.createDirectories(tmp.resolve("ca-only")).resolve("ca-cert.pem"));
        Files.writeString(work.resolve("server.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        signed(work, ca, "localhost", work.resolve("server.cnf"), server.resolve("server-cert.pem"),
                server.resolve("server-key.pem"));
        signed(work, ca, "backup-client", null, client.resolve("client-cert.pem"), client.resolve("client-key.pem"));
        // a client whose certificate another CA signed
        String other = ca(work, "other");
        signed(work, other, "intruder", null, stranger.resolve("client-cert.pem"), stranger.resolve("client-key.pem"));
    }

    static String ca(Path work, String name) throws Exception {
        String base = work.resolve(name).toString();
        sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=" + name + " CA' -keyout " + base
                + "-key.pem -out " + base + "-cert.pem 2>&1").ok();
        return base;
    }

    static void signed(Path work, String ca, String cn, Path ext, Path cert, Path key) throws Exception {
        Path csr = work.resolve(cn + ".csr");
        sh("openssl req -newkey rsa:2048 -nodes -subj '/CN=" + cn + "' -keyout " + key + " -out " + csr + " 2>&1").ok();
        sh("openssl x509 -req -in " + csr + " -days 2 -CA " + ca + "-cert.pem -CAkey " + ca + "-key.pem "
                + "-CAcreateserial " + (ext == null ? "" : "-extfile " + ext) + " -out " + cert + " 2>&1").ok();
    }

    @AfterEach
    void stop() throws Exception {
        if (daemon != null) {
            daemon.close();
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    String uri(boolean tls, int port, Path certs) {
        return "'" + (tls ? "nbds" : "nbd") + "://127.0.0.1:" + port + "/data" + (certs == null ? ""
                : "?tls-certificates=" + certs) + "'";
    }

    @Test
    void tcpWithoutTlsRefusesToStartUnlessInsecureIsGiven() throws Exception {
        int port = freePort();
        Path state = tmp.resolve("state");
        DaemonProcess.Result r = DaemonProcess.finish(new ProcessBuilder(DaemonProcess.JAVA, "-cp", DaemonProcess.CP,
                "dev.shadowcopy.cli.Main", "daemon", "--state", state.toString(), "--nbd-tcp", "127.0.0.1:" + port)
                .start(), Duration.ofMinutes(1));
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("--nbd-tls-creds") && r.err().contains("--nbd-tcp-insecure"), r.err());

        daemon = new DaemonProcess(state, "--nbd-tcp", "127.0.0.1:" + port, "--nbd-tcp-insecure").start();
        daemon.cli("volume", "create", "data", "--size", "4M").ok();
        assertTrue(sh("nbdinfo --size " + uri(false, port, null)).ok().out().contains("4194304"));
    }

    @Test
    void onlyAClientWithACertificateOfTheCaGetsIn() throws Exception {
        int port = freePort();
        daemon = new DaemonProcess(tmp.resolve("state"), "--nbd-tcp", "127.0.0.1:" + port, "--nbd-tls-creds",
                server.toString()).start();
        daemon.cli("volume", "create", "data", "--size", "4M").ok();
        sh("qemu-io -f raw -c 'write -P 0x5a 0 64k' 'nbd+unix:///data?socket=" + daemon.state.resolve("nbd.sock")
                + "'").ok();

        String ok = sh("nbdinfo " + uri(true, port, client)).ok().out();
        assertTrue(ok.contains("with TLS") && ok.contains("4194304"), ok);
        assertTrue(sh("nbdcopy " + uri(true, port, client) + " - | head -c 1 | od -An -tx1").ok().out()
                .contains("5a"), "an authenticated client reads the volume");

        DaemonProcess.Result plain = sh("nbdinfo " + uri(false, port, null));
        assertNotEquals(0, plain.exit(), "a plaintext client must be refused: " + plain);
        DaemonProcess.Result noCert = sh("nbdinfo " + uri(true, port, tmp.resolve("ca-only")));
        assertNotEquals(0, noCert.exit(), "a TLS client without a certificate must be refused: " + noCert);
        DaemonProcess.Result wrongCa = sh("nbdinfo " + uri(true, port, stranger));
        assertNotEquals(0, wrongCa.exit(), "a certificate of another CA must be refused: " + wrongCa);

        // raw bytes: every option but STARTTLS is answered "TLS required", EXPORT_NAME ends the connection
        try (Wire w = Wire.tcp(port, Duration.ofSeconds(20))) {
            assertEquals(18, w.read(18).length, "the greeting");
            w.send(ByteBuffer.allocate(4).putInt(1).array());
            w.send(option(OPT_GO, goData("data")));
            ByteBuffer reply = ByteBuffer.wrap(w.read(20));
            assertEquals(20, reply.limit(), "an option reply");
            reply.getLong();
            assertEquals(OPT_GO, reply.getInt());
            assertEquals(REP_ERR_TLS_REQD, reply.getInt());
            w.read(reply.getInt()); // its message
            w.send(option(OPT_EXPORT_NAME, "data".getBytes(StandardCharsets.US_ASCII)));
            assertEquals(0, w.readToEnd().length, "no byte of the export without TLS");
            assertFalse(w.timedOut);
        }
        assertTrue(sh("nbdinfo --size " + uri(true, port, client)).ok().out().contains("4194304"),
                "still serving authenticated clients");
    }

    static byte[] option(int option, byte[] data) {
        return ByteBuffer.allocate(16 + data.length).putLong(IHAVEOPT).putInt(option).putInt(data.length).put(data)
                .array();
    }

    static byte[] goData(String export) {
        byte[] name = export.getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.allocate(4 + name.length + 2).putInt(name.length).put(name).putShort((short) 0).array();
    }
}
