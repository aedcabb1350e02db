package dev.shadowcopy.nbd;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.nbd.server.TlsMode;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/** TLS on TCP through JSSE, against libnbd (GnuTLS) as the client, with X.509 certificates made by openssl. */
@Tag("host")
class TlsTest {
    @TempDir
    Path dir;
    Path clientCerts;
    SSLContext serverContext;

    @BeforeEach
    void certificates() throws Exception {
        Host.requireProgram("openssl");
        Host.requireProgram("nbdinfo");
        clientCerts = Files.createDirectories(dir.resolve("client"));
        Path ca = dir.resolve("ca");
        Files.createDirectories(ca);
        Host.run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
                "-keyout", ca.resolve("ca-key.pem").toString(), "-out", clientCerts.resolve("ca-cert.pem").toString());
        Files.writeString(ca.resolve("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        Host.run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                "-keyout", ca.resolve("server-key.pem").toString(), "-out", ca.resolve("server.csr").toString());
        Host.run("openssl", "x509", "-req", "-in", ca.resolve("server.csr").toString(), "-days", "2",
                "-CA", clientCerts.resolve("ca-cert.pem").toString(), "-CAkey", ca.resolve("ca-key.pem").toString(),
                "-CAcreateserial", "-extfile", ca.resolve("ext.cnf").toString(),
                "-out", ca.resolve("server-cert.pem").toString());
        Host.run("openssl", "pkcs12", "-export", "-passout", "pass:test", "-in", ca.resolve("server-cert.pem").toString(),
                "-inkey", ca.resolve("server-key.pem").toString(), "-out", ca.resolve("server.p12").toString());
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(ca.resolve("server.p12"))) {
            ks.load(in, "test".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, "test".toCharArray());
        serverContext = SSLContext.getInstance("TLS");
        serverContext.init(kmf.getKeyManagers(), null, null);
    }

    private NbdFixture server(TlsMode mode) throws IOException {
        NbdFixture f = new NbdFixture(dir, NbdServer.Config.unix(dir.resolve("nbd.sock"))
                .withTcp(new InetSocketAddress("127.0.0.1", 0), mode, serverContext));
        f.volumes.create(VolumeConfig.sparse("vol", 8L << 20));
        return f;
    }

    private static String tcpUri(NbdFixture f, boolean tls, Path certs) throws IOException {
        int port = f.server.tcpAddress().getPort();
        return (tls ? "nbds" : "nbd") + "://127.0.0.1:" + port + "/vol" + (tls ? "?tls-certificates=" + certs : "");
    }

    @Test
    void requiredModeServesTlsClientsAndRefusesPlaintext() throws IOException {
        try (NbdFixture f = server(TlsMode.REQUIRED)) {
            String out = Host.run("nbdinfo", tcpUri(f, true, clientCerts));
            assertTrue(out.contains("with TLS"), out);
            Host.run("nbdinfo", "--is", "tls", tcpUri(f, true, clientCerts));
            IOException plain = assertThrows(IOException.class, () -> Host.run("nbdinfo", tcpUri(f, false, null)));
            assertTrue(plain.getMessage().toLowerCase().contains("tls"), plain.getMessage());
        }
    }

    @Test
    void allowedModeServesBoth() throws IOException {
        try (NbdFixture f = server(TlsMode.ALLOWED)) {
            assertTrue(Host.run("nbdinfo", tcpUri(f, true, clientCerts)).contains("with TLS"));
            assertTrue(Host.run("nbdinfo", tcpUri(f, false, null)).contains("without TLS"));
        }
    }

    @Test
    void theUnixSocketRefusesStartTlsByPolicy() throws IOException {
        try (NbdFixture f = server(TlsMode.REQUIRED)) {
            // the local socket is protected by file permissions and is never TLS
            assertTrue(Host.run("nbdinfo", f.uri("vol")).contains("without TLS"));
        }
    }
}
