package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.finish;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many hosts, one repository on S3, as admins would run it: a real S3 server ({@code bin/dev-s3}), two daemons with
 * different {@code --host} backing up into one bucket at once while {@code backups gc} runs, restores by host,
 * deduplication across hosts, and a daemon killed half-way through an S3 backup whose next backup reuses what was
 * uploaded.
 */
@Tag("host")
class S3IntegrationTest {
    @TempDir
    Path tmp;
    Process s3;
    Path s3data;
    final Map<String, String> env = new LinkedHashMap<>();
    final List<DaemonProcess> daemons = new ArrayList<>();

    @BeforeEach
    void startS3() throws Exception {
        Host.requireProgram("qemu-io");
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        s3data = Files.createDirectories(tmp.resolve("s3"));
        Path log = tmp.resolve("dev-s3.log");
        s3 = new ProcessBuilder(Path.of("").toAbsolutePath().getParent().resolve("bin/dev-s3").toString(),
                s3data.toString(), Integer.toString(port)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        await(Duration.ofMinutes(3), () -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return true;
            } catch (IOException e) {
                return !s3.isAlive();
            }
        }, "bin/dev-s3 to listen");
        assertTrue(s3.isAlive(), Files.readString(log));
        for (String line : Files.readAllLines(log)) {
            if (line.startsWith("export ")) {
                String kv = line.substring(7);
                env.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
            }
        }
        assertEquals(4, env.size(), "bin/dev-s3 printed the four AWS_* lines");
    }

    @AfterEach
    void stop() throws Exception {
        for (DaemonProcess d : daemons) {
            d.close();
        }
        if (s3 != null) {
            s3.destroy();
            s3.waitFor(30, TimeUnit.SECONDS);
        }
    }

    DaemonProcess daemon(String host) throws Exception {
        DaemonProcess d = new DaemonProcess(tmp.resolve("state-" + host), "--host", host);
        d.env.putAll(env);
        daemons.add(d);
        return d.start();
    }

    /** A volume of {@code size} holding {@code files} at the given offsets, written through the daemon's NBD. */
    static void write(DaemonProcess d, String volume, Map<Long, Path> files) throws Exception {
        for (var e : files.entrySet()) {
            long len = Files.size(e.getValue());
            sh("qemu-io -f raw -c 'write -s " + e.getValue() + " " + e.getKey() + " " + len + "' 'nbd+unix:///" + volume
                    + "?socket=" + d.state.resolve("nbd.sock") + "'").ok();
        }
    }

    /** The image a volume of {@code size} with {@code files} written at their offsets should restore to. */
    Path expected(String name, long size, Map<Long, Path> files) throws Exception {
        Path img = tmp.resolve(name);
        sh("truncate -s " + size + " " + img).ok();
        for (var e : files.entrySet()) {
            sh("dd if=" + e.getValue() + " of=" + img + " bs=64K seek=" + e.getKey() + " oflag=seek_bytes conv=notrunc "
                    + "status=none").ok();
        }
        return img;
    }

    Path random(String name, String size) throws Exception {
        Path p = tmp.resolve(name);
        sh("head -c " + size + " /dev/urandom > " + p).ok();
        return p;
    }

    long chunkObjects(String bucket) throws IOException {
        Path chunks = s3data.resolve(bucket).resolve("repo").resolve("chunks");
        if (!Files.isDirectory(chunks)) {
            return 0;
        }
        try (var s = Files.walk(chunks)) {
            return s.filter(Files::isRegularFile).count();
        }
    }

    static JsonNode json(DaemonProcess.Result r) throws IOException {
        return Json.MAPPER.readTree(r.ok().out());
    }

    @Test
    void aBackupScheduleIntoABucketKeepsItsNewestPointsOnly() throws Exception {
        DaemonProcess d = daemon("alpha");
        String repo = "s3://nightly/repo";
        d.cli("backups", "init", "--repo", repo, "--chunk-size", "1M").ok();
        d.cli("volume", "create", "v", "--size", "16M").ok();
        d.cli("schedule", "add", "nightly", "--for", "v", "--calendar", "daily", "--keep", "2", "--backup",
                "--repo", repo).ok();
        List<String> made = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            write(d, "v", Map.of((long) i << 20, random("r" + i, "1M")));
            JsonNode r = json(d.cli("schedule", "run", "nightly", "--json"));
            assertTrue(r.path("ok").asBoolean(), r.toString());
            made.add(r.path("backup").asText());
        }
        List<String> listed = new ArrayList<>();
        for (JsonNode b : json(d.cli("backups", "list", "--repo", repo, "--json")).path("backups")) {
            listed.add(b.path("id").asText());
        }
        assertEquals(List.of(made.get(1), made.get(2)), listed.stream().sorted(
                java.util.Comparator.comparing(made::indexOf)).toList(), "the schedule pruned its oldest point");
        d.cli("backups", "verify", "--repo", repo).ok();
    }

    @Test
    void twoHostsBackUpAtOnceIntoOneBucketWhileGcRunsAndBothRestoreExactly() throws Exception {
        DaemonProcess alpha = daemon("alpha");
        DaemonProcess beta = daemon("beta");
        String repo = "s3://fleet/repo";
        alpha.cli("backups", "init", "--repo", repo, "--chunk-size", "1M").ok();
        Path shared = random("shared.bin", "24M"); // the same system image on both hosts
        Map<Long, Path> a = Map.of(0L, shared, 32L << 20, random("a.bin", "8M"));
        Map<Long, Path> b = Map.of(0L, shared, 40L << 20, random("b.bin", "8M"));
        for (DaemonProcess d : List.of(alpha, beta)) {
            d.cli("volume", "create", "data", "--size", "64M").ok();
        }
        write(alpha, "data", a);
        write(beta, "data", b);
        Process ba = alpha.cliProcess("backup", "--for", "data", "--repo", repo, "--json");
        Process bb = beta.cliProcess("backup", "--for", "data", "--repo", repo, "--json");
        List<String> gcs = new ArrayList<>();
        while (ba.isAlive() || bb.isAlive()) { // collections while both backups run: never an exclusive lock
            gcs.add(alpha.cli("backups", "gc", "--repo", repo).ok().out());
        }
        JsonNode ra = json(finish(ba, Duration.ofMinutes(2)));
        JsonNode rb = json(finish(bb, Duration.ofMinutes(2)));
        assertEquals("alpha", ra.path("backup").path("host").asText());
        assertEquals("beta", rb.path("backup").path("host").asText());
        assertTrue(!gcs.isEmpty(), "at least one gc ran while both backups ran");
        gcs.add(alpha.cli("backups", "gc", "--repo", repo).ok().out()); // nothing running now: sweeps what was marked
        // 24 MiB shared + 8 + 8 unique, 1 MiB chunks: stored once each, whichever host uploaded first
        assertEquals(40, chunkObjects("fleet"), "the shared data is stored once: " + gcs);
        // a later backup of beta finds everything there
        JsonNode again = json(beta.cli("backup", "--for", "data", "--repo", repo, "--json"));
        assertEquals(0, again.path("backup").path("volumes").get(0).path("new_chunks").asLong());
        String list = alpha.cli("backups", "list", "--repo", repo).ok().out();
        assertTrue(list.contains("HOST") && list.contains("alpha") && list.contains("beta"), list);
        String onlyAlpha = alpha.cli("backups", "list", "--repo", repo, "--host", "alpha").ok().out();
        assertTrue(!onlyAlpha.contains("beta"), onlyAlpha);
        // latest is this host's latest
        Path outA = tmp.resolve("a.img");
        Path outB = tmp.resolve("b.img");
        alpha.cli("restore", "latest", "--volume", "data", "--repo", repo, "--to", outA.toString(), "--host", "alpha")
                .ok();
        alpha.cli("restore", "latest", "--volume", "data", "--repo", repo, "--to", outB.toString(), "--host", "beta")
                .ok();
        assertEquals(-1, Files.mismatch(outA, expected("ea.img", 64L << 20, a)), "alpha restores byte for byte");
        assertEquals(-1, Files.mismatch(outB, expected("eb.img", 64L << 20, b)), "beta restores byte for byte");
        String verify = beta.cli("backups", "verify", "--repo", repo).ok().out();
        assertTrue(verify.contains("No damage found"), verify);
    }

    @Test
    void aDaemonKilledHalfWayThroughAnS3BackupLeavesAVerifiableRepositoryAndTheNextBackupReusesTheUploads()
            throws Exception {
        DaemonProcess alpha = daemon("alpha");
        String repo = "s3://killed/repo";
        alpha.cli("backups", "init", "--repo", repo, "--chunk-size", "1M", "--compression-level", "19").ok();
        alpha.cli("volume", "create", "big", "--size", "256M").ok();
        Map<Long, Path> data = Map.of(0L, random("big.bin", "200M"));
        write(alpha, "big", data);
        Process b = alpha.cliProcess("backup", "--for", "big", "--repo", repo, "--threads", "1");
        await(Duration.ofSeconds(120), () -> {
            try {
                return chunkObjects("killed") >= 40;
            } catch (IOException e) {
                return false;
            }
        }, "part of the backup to be uploaded");
        alpha.kill9();
        finish(b, Duration.ofSeconds(30));
        long uploaded = chunkObjects("killed");
        assertTrue(uploaded < 200, "killed half-way: " + uploaded + " of 200 chunks uploaded");
        alpha.start();
        assertEquals(1, alpha.cli("backups", "list", "--repo", repo).ok().out().lines().count(), "no backup point");
        String verify = alpha.cli("backups", "verify", "--repo", repo).ok().out();
        assertTrue(verify.contains("No damage found"), verify);
        JsonNode again = json(alpha.cli("backup", "--for", "big", "--repo", repo, "--json"));
        long fresh = again.path("backup").path("volumes").get(0).path("new_chunks").asLong();
        assertTrue(fresh <= 200 - uploaded + 2, "only what was not uploaded is sent: " + fresh + " new, " + uploaded
                + " there before");
        Path out = tmp.resolve("big.img");
        alpha.cli("restore", "latest", "--volume", "big", "--repo", repo, "--to", out.toString(), "--host", "alpha")
                .ok(); // this machine's own name is not alpha: the CLI says whose latest
        assertEquals(-1, Files.mismatch(out, expected("ebig.img", 256L << 20, data)));
    }
}
