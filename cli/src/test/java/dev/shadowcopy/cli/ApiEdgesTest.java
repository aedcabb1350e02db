package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input at the API and the CLI gets a clear refusal (what, where, what to do) and the daemon logs no
 * internal error for it; ids are taken as admins type them; a failed restore or backup leaves nothing misleading.
 * One daemon for the class: every test here leaves it as it found it.
 */
class ApiEdgesTest {
    static final Duration BOUND = Duration.ofSeconds(30);

    @TempDir
    static Path tmp;
    static DaemonProcess daemon;

    @BeforeAll
    static void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state")).start();
        daemon.cli("volume", "create", "v", "--size", "8M").ok();
    }

    @AfterAll
    static void stop() throws Exception {
        daemon.close();
    }

    static byte[] send(String method, String path, String json) throws Exception {
        return Wire.http(daemon.state.resolve("shadowcopy.sock"), Wire.request(method, path, json), BOUND);
    }

    /** The status of the answer, checked to be a JSON error that says {@code says}. */
    static int refused(byte[] answer, String says) throws Exception {
        JsonNode e = Json.MAPPER.readTree(DoorsIntegrationTest.body(answer)).path("error");
        assertTrue(e.path("message").asText().contains(says), new String(answer));
        return Wire.status(answer);
    }

    static void noInternalErrorLogged() throws Exception {
        String log = daemon.log();
        // error events are logged at SEVERE by design; an internal error shows as "failed unexpectedly" + a trace
        assertFalse(log.contains("failed unexpectedly") || log.contains("\tat dev.shadowcopy"), log);
    }

    @Test
    void outOfRangeNumbersAreRefusedAsInvalidArguments() throws Exception {
        assertEquals(400, refused(send("GET", "/v1/events?limit=-1", null), "'limit' 1..2000"));
        assertEquals(400, refused(send("GET", "/v1/events?after=-5", null), "'after' must be 0 or more"));
        assertEquals(400, refused(send("POST", "/v1/sessions", "{\"lease_seconds\": 1e308}"),
                "lease_seconds must be a whole number"));
        assertEquals(400, refused(send("POST", "/v1/sessions", "{\"lease_seconds\": -3}"), "from 1 to 86400"));
        assertEquals(400, refused(send("POST", "/v1/volumes", "{\"name\":\"c\",\"size\":\"8M\",\"chunk_size\":"
                + "\"4294971392\"}"), "chunk_size 4294971392 is out of range"));
        byte[] huge = send("POST", "/v1/volumes", "{\"name\":\"p\",\"size\":\"1P\"}");
        if (Wire.status(huge) == 201) {
            daemon.cli("volume", "delete", "p").ok(); // a file system that holds 1 PiB sparse files (tmpfs, XFS)
        } else {
            assertEquals(400, refused(huge, "choose a smaller --size"));
        }
        assertTrue(Json.MAPPER.readTree(daemon.cli("list", "volumes", "--json").ok().out()).path("volumes")
                .findValuesAsText("name").equals(List.of("v")), "nothing half-made is left");
        noInternalErrorLogged();
    }

    @Test
    void statusAcceptsOnlyGet() throws Exception {
        assertEquals(405, refused(send("POST", "/v1/status", "{}"), "expected: GET"));
        assertEquals(405, refused(send("DELETE", "/v1/status", null), "expected: GET"));
        assertEquals(200, Wire.status(send("GET", "/v1/status", null)));
    }

    @Test
    void aRequestWithTwoContentLengthsIsRefused() throws Exception {
        byte[] a = Wire.http(daemon.state.resolve("shadowcopy.sock"), "POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
                + "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}", BOUND);
        assertEquals(400, refused(a, "duplicate content-length"));
        byte[] b = Wire.http(daemon.state.resolve("shadowcopy.sock"), "POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
                + "Content-Length: +2\r\n\r\n{}", BOUND);
        assertEquals(400, refused(b, "digits only"));
    }

    @Test
    void shadowCommandsTakeUniqueIdPrefixesAsBackupsDo() throws Exception {
        JsonNode set = Json.MAPPER.readTree(daemon.cli("create", "shadow", "--for", "v", "--nowriters", "--json").ok()
                .out());
        String id = set.path("shadows").get(0).path("id").asText();
        String prefix = id.substring(0, 8);
        assertTrue(daemon.cli("protect", "--shadow", prefix, "--until", "2099-01-01").ok().out().contains(id));
        DaemonProcess.Result bad = daemon.cli("protect", "--shadow", "zz", "--until", "2099-01-01");
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("'zz' is not a shadow copy id"), bad.err());
        DaemonProcess.Result none = daemon.cli("delete", "shadows", "--shadow", "0000000");
        assertTrue(none.err().contains("no shadow copy 0000000") || id.startsWith("0000000"), none.err());
        // the set by prefix too; the protected copy is refused, by its full id
        DaemonProcess.Result del = daemon.cli("delete", "shadows", "--set", set.path("set_id").asText().substring(0, 6));
        assertEquals(1, del.exit());
        assertTrue(del.err().contains(id), del.err());
    }

    @Test
    void aOneShotAutoReleaseCopyIsRefusedInsteadOfReportedAsCreated() throws Exception {
        int before = Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out()).path("shadows").size();
        DaemonProcess.Result r = daemon.cli("create", "shadow", "--for", "v", "--context", "backup");
        assertEquals(1, r.exit());
        assertFalse(r.out().contains("Successfully created"), r.out());
        assertTrue(r.err().contains("auto-release") && r.err().contains("shadowcopy script"), r.err());
        assertEquals(before, Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out()).path("shadows")
                .size(), "no copy was made");
    }

    @Test
    void aRestoreThatFailsLeavesNoFileBehind() throws Exception {
        sh("qemu-io -f raw -c 'write -P 7 0 4M' 'nbd+unix:///v?socket=" + daemon.state.resolve("nbd.sock") + "'").ok();
        Path repo = tmp.resolve("repo-restore");
        daemon.cli("backup", "--for", "v", "--repo", repo.toString()).ok();
        // damage every chunk: the restore reads, checks the hash, and fails part way
        try (var chunks = Files.walk(repo.resolve("chunks"))) {
            for (Path c : chunks.filter(Files::isRegularFile).toList()) {
                byte[] b = Files.readAllBytes(c);
                b[b.length / 2] ^= 0x5a;
                Files.write(c, b);
            }
        }
        Path target = tmp.resolve("out").resolve("restored.img");
        Files.createDirectories(target.getParent());
        DaemonProcess.Result r = daemon.cli("restore", "latest", "--volume", "v", "--repo", repo.toString(), "--to",
                target.toString());
        assertNotEquals(0, r.exit(), r.toString());
        try (var left = Files.list(target.getParent())) {
            assertEquals(List.of(), left.toList(), "a failed restore must leave no (partial) file");
        }
    }

    @Test
    void aFullRepositoryIsNamedInTheError() throws Exception {
        Path small = Files.createDirectories(tmp.resolve("small"));
        sh("mount -t tmpfs -o size=1M tmpfs " + small).ok();
        try {
            Path random = tmp.resolve("random.img");
            sh("head -c 6M /dev/urandom > " + random).ok(); // incompressible: more than the repository holds
            sh("nbdcopy " + random + " 'nbd+unix:///v?socket=" + daemon.state.resolve("nbd.sock") + "'").ok();
            Path repo = small.resolve("repo");
            DaemonProcess.Result r = daemon.cli("backup", "--for", "v", "--repo", repo.toString());
            assertNotEquals(0, r.exit(), r.toString());
            assertTrue(r.err().contains("the repository " + repo + " is full"), r.err());
        } finally {
            sh("umount -l " + small).ok();
        }
        noInternalErrorLogged();
    }
}
