package dev.shadowcopy.image.s3;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real S3 server for the tests: {@code bin/dev-s3} (s3proxy, filesystem backend) as a child process on a free
 * loopback port, one per test JVM, stopped when the JVM exits (and its data removed). With
 * {@code -Dshadowcopy.s3.server=ceph} it is {@code bin/dev-ceph} instead (a one-node Ceph cluster with radosgw:
 * {@code CephRgwTest}); with {@code -Dshadowcopy.s3.env=FILE} a server already running, whose {@code export AWS_…}
 * lines are in FILE. Its {@code export AWS_…} lines become the system properties the AWS SDK reads
 * ({@code aws.accessKeyId}, {@code aws.secretAccessKey}, {@code aws.region}, {@code aws.endpointUrl}), so the code
 * under test configures itself as it does from the environment.
 */
public final class S3Server {
    private static S3Server shared;
    private static final AtomicInteger BUCKETS = new AtomicInteger();

    public final Map<String, String> env = new LinkedHashMap<>();
    private final Process process;

    private S3Server(Path env, boolean external) throws IOException {
        process = null;
        read(env);
    }

    private S3Server(Path dir) throws IOException, InterruptedException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        boolean ceph = "ceph".equals(System.getProperty("shadowcopy.s3.server"));
        Path script = Path.of("").toAbsolutePath().getParent().resolve(ceph ? "bin/dev-ceph" : "bin/dev-s3");
        Path log = dir.resolveSibling("dev-s3.log");
        process = new ProcessBuilder(script.toString(), dir.toString(), Integer.toString(port))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Path top = dir.getParent();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(top))); // dev-ceph stops its daemons on TERM
        Instant end = Instant.now().plus(Duration.ofMinutes(3)); // the first run downloads s3proxy
        while (!ceph || !Files.readString(log).contains("AWS_REGION")) { // dev-ceph prints them once it serves
            if (ceph) {
                if (!process.isAlive() || Instant.now().isAfter(end)) {
                    process.destroy();
                    throw new IOException("bin/dev-ceph did not start: " + Files.readString(log));
                }
                TimeUnit.MILLISECONDS.sleep(500);
                continue;
            }
            if (!process.isAlive()) {
                throw new IOException("bin/dev-s3 exited: " + Files.readString(log));
            }
            if (Instant.now().isAfter(end)) {
                process.destroyForcibly();
                throw new IOException("bin/dev-s3 did not listen on " + port + ": " + Files.readString(log));
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                break;
            } catch (IOException notYet) {
                TimeUnit.MILLISECONDS.sleep(100);
            }
        }
        read(log);
    }

    /** Stops the server (dev-ceph stops its daemons within 20 s of TERM), then removes its data and log. */
    private void stop(Path top) {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            try (var files = Files.walk(top)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException | InterruptedException e) {
            System.err.println("S3Server: could not remove " + top + " after the server stopped: " + e);
        }
    }

    private void read(Path log) throws IOException {
        for (String line : Files.readAllLines(log, java.nio.charset.StandardCharsets.ISO_8859_1)) {
            if (line.startsWith("export ")) {
                String kv = line.substring(7);
                env.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
            }
        }
        System.setProperty("aws.accessKeyId", env.get("AWS_ACCESS_KEY_ID"));
        System.setProperty("aws.secretAccessKey", env.get("AWS_SECRET_ACCESS_KEY"));
        System.setProperty("aws.region", env.get("AWS_REGION"));
        System.setProperty("aws.endpointUrl", env.get("AWS_ENDPOINT_URL"));
    }

    /** The server of this JVM, started on first use. */
    public static synchronized S3Server shared() throws IOException, InterruptedException {
        String external = System.getProperty("shadowcopy.s3.env");
        if (shared == null && external != null) {
            shared = new S3Server(Path.of(external), true);
        }
        if (shared == null) {
            Path dir = Files.createTempDirectory("shadowcopy-s3-").resolve("data");
            Files.createDirectories(dir);
            shared = new S3Server(dir);
        }
        return shared;
    }

    /** A repository location in a bucket no other test uses (created by {@code backups init}). */
    public String freshLocation(String name) {
        return "s3://t" + ProcessHandle.current().pid() + "-" + BUCKETS.incrementAndGet() + "/" + name;
    }
}
