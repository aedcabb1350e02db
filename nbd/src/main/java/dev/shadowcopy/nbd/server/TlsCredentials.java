package dev.shadowcopy.nbd.server;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * Server credentials for NBD over TLS from a directory laid out as QEMU's {@code tls-creds-x509} (and so
 * {@code qemu-nbd --tls-creds}) expects, PEM files made by openssl or certtool:
 *
 * <ul>
 *   <li>{@code ca-cert.pem}: the certificate authority whose signature a <em>client</em> certificate must carry
 *       (this is the authentication: only holders of such a certificate get in);</li>
 *   <li>{@code server-cert.pem}: the server's certificate (optionally followed by its chain);</li>
 *   <li>{@code server-key.pem}: its private key, unencrypted, PKCS#8 ({@code BEGIN PRIVATE KEY}) or PKCS#1
 *       RSA ({@code BEGIN RSA PRIVATE KEY}).</li>
 * </ul>
 *
 * <p>Clients use the matching client layout: libnbd's {@code nbds://host:port/export?tls-certificates=DIR}
 * with {@code ca-cert.pem}, {@code client-cert.pem}, {@code client-key.pem}. TLS pre-shared keys (nbdkit's
 * {@code --tls-psk}) are not offered: the JDK's TLS implementation has no PSK cipher suites.
 */
public final class TlsCredentials {
    public static final String CA = "ca-cert.pem";
    public static final String CERT = "server-cert.pem";
    public static final String KEY = "server-key.pem";
    private static final char[] NO_PASSWORD = new char[0];

    private TlsCredentials() {}

    /** An SSL context that presents the server's certificate and trusts clients signed by the CA. */
    public static SSLContext load(Path dir) throws IOException {
        for (String f : List.of(CA, CERT, KEY)) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                throw new IOException("TLS credentials " + dir + ": " + f + " is missing (expected " + CA + ", " + CERT
                        + ", " + KEY + ", as for qemu-nbd --tls-creds)");
            }
        }
        try {
            List<Certificate> chain = certificates(dir.resolve(CERT));
            List<Certificate> cas = certificates(dir.resolve(CA));
            PrivateKey key = privateKey(dir.resolve(KEY));
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, null);
            keys.setKeyEntry("server", key, NO_PASSWORD, chain.toArray(Certificate[]::new));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keys, NO_PASSWORD);
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                trust.setCertificateEntry("ca" + i, cas.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            X509TrustManager clients = (X509TrustManager) tmf.getTrustManagers()[0];
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), new TrustManager[] {new UnnamedIssuers(clients)}, null);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("TLS credentials " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Verifies clients as {@code trust} does, but names no acceptable issuers in the TLS 1.3 CertificateRequest:
     * GnuTLS clients (libnbd, QEMU) then send no certificate at all ("Empty client certificate chain"), found
     * by NbdTcpDoorTest. An empty list means "any issuer" to the client; the check itself is unchanged.
     */
    private record UnnamedIssuers(X509TrustManager trust) implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            trust.checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            trust.checkServerTrusted(chain, authType);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    private static List<Certificate> certificates(Path pem) throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(pem)) {
            List<Certificate> out = List.copyOf(CertificateFactory.getInstance("X.509").generateCertificates(in));
            if (out.isEmpty()) {
                throw new IOException(pem + " holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)");
            }
            return out;
        }
    }

    private static PrivateKey privateKey(Path pem) throws IOException, GeneralSecurityException {
        String text = Files.readString(pem, StandardCharsets.US_ASCII);
        byte[] pkcs8;
        if (text.contains("-----BEGIN PRIVATE KEY-----")) {
            pkcs8 = body(text, "PRIVATE KEY");
        } else if (text.contains("-----BEGIN RSA PRIVATE KEY-----")) {
            pkcs8 = rsaPkcs1ToPkcs8(body(text, "RSA PRIVATE KEY"));
        } else {
            throw new IOException(pem + " is not an unencrypted PKCS#8 or PKCS#1 RSA key; convert it with "
                    + "'openssl pkcs8 -topk8 -nocrypt -in " + pem + " -out " + pem + ".new'");
        }
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(pkcs8);
        for (String alg : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                // not this algorithm: try the next
            }
        }
        throw new IOException(pem + ": a private key of an algorithm the JDK does not read (expected RSA, EC or EdDSA)");
    }

    private static byte[] body(String text, String label) throws IOException {
        String begin = "-----BEGIN " + label + "-----";
        String end = "-----END " + label + "-----";
        int a = text.indexOf(begin);
        int b = text.indexOf(end, a);
        if (a < 0 || b < 0) {
            throw new IOException("PEM block " + label + " is not terminated");
        }
        return Base64.getMimeDecoder().decode(text.substring(a + begin.length(), b));
    }

    /** PKCS#8 PrivateKeyInfo around a PKCS#1 RSAPrivateKey: version 0, rsaEncryption with NULL parameters. */
    private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01,
            0x01, 0x05, 0x00};
        ByteArrayOutputStream inner = new ByteArrayOutputStream();
        inner.writeBytes(new byte[] {0x02, 0x01, 0x00});
        inner.writeBytes(algorithm);
        inner.write(0x04);
        inner.writeBytes(derLength(pkcs1.length));
        inner.writeBytes(pkcs1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x30);
        out.writeBytes(derLength(inner.size()));
        out.writeBytes(inner.toByteArray());
        return out.toByteArray();
    }

    private static byte[] derLength(int n) {
        if (n < 0x80) {
            return new byte[] {(byte) n};
        }
        if (n < 0x100) {
            return new byte[] {(byte) 0x81, (byte) n};
        }
        if (n < 0x10000) {
            return new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n};
        }
        return new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
    }
}
