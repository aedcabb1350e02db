package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thousands of mutated API requests and NBD frames against a real daemon, from a fixed seed (printed; set
 * {@code -Dshadowcopy.fuzz.seed=N} to replay). Whatever arrives, every request is answered or its connection
 * closed within a bound, no answer is an internal error (500), the daemon logs no unexpected failure, it still
 * serves, and the data it holds for a volume and a protected shadow copy the fuzzer never names is unchanged.
 */
class DoorsFuzzTest {
    static final Duration BOUND = Duration.ofSeconds(20);
    static final int API_REQUESTS = 3000;
    static final int NBD_CONNECTIONS = 1500;

    @TempDir
    Path tmp;
    DaemonProcess daemon;
    Random random;
    long seed;

    @BeforeEach
    void start() throws Exception {
        seed = Long.getLong("shadowcopy.fuzz.seed", 20261205L);
        random = new Random(seed);
        System.out.println("DoorsFuzzTest seed " + seed + " (replay with -Dshadowcopy.fuzz.seed=" + seed + ")");
        daemon = new DaemonProcess(tmp.resolve("state"), "--api-idle-timeout", "5").start();
        daemon.cli("volume", "create", "keep", "--size", "4M").ok();
        daemon.cli("volume", "create", "fz", "--size", "4M").ok();
        sh("qemu-io -f raw -c 'write -P 0x3c 0 4M' " + nbd("keep")).ok();
        daemon.cli("create", "shadow", "--for", "keep", "--nowriters", "--protect-until", "2099-01-01").ok();
        sh("qemu-io -f raw -c 'write -P 0x3d 0 1M' " + nbd("keep")).ok();
    }

    @AfterEach
    void stop() throws Exception {
        daemon.close();
    }

    String nbd(String export) {
        return "'nbd+unix:///" + export + "?socket=" + daemon.state.resolve("nbd.sock") + "'";
    }

    /** sha256 of every export of {@code keep}: the volume and its protected copy. */
    String keepData() throws Exception {
        JsonNode shadows = Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out()).path("shadows");
        StringBuilder b = new StringBuilder(sh("nbdcopy " + nbd("keep") + " - | sha256sum").ok().out());
        for (JsonNode s : shadows) {
            if (s.path("volume").asText().equals("keep")) {
                b.append(s.path("id").asText()).append(' ')
                        .append(sh("nbdcopy " + nbd(s.path("nbd_export").asText()) + " - | sha256sum").ok().out());
            }
        }
        return b.toString();
    }

    void stillServesAndNothingUnexpected(String before) throws Exception {
        assertEquals(before, keepData(), "data the fuzzer never named changed (seed " + seed + ")");
        daemon.cli("volume", "create", "after", "--size", "1M").ok();
        String log = daemon.log();
        assertFalse(log.contains("failed unexpectedly") || log.contains("\tat dev.shadowcopy"),
                "an internal error (seed " + seed + "):\n" + log.substring(Math.max(0, log.length() - 20_000)));
    }

    // ------------------------------------------------------------------ API

    static final String[] TEMPLATES = {
        "GET /v1/status", "GET /v1/volumes", "GET /v1/shadows?volume=fz", "GET /v1/events?after=0&limit=5",
        "GET /v1/providers", "GET /v1/sessions", "GET /v1/writers", "GET /v1/shadowstorage", "GET /v1/sets",
        "POST /v1/volumes {\"name\":\"fz1\",\"size\":\"1M\",\"chunk_size\":\"64K\",\"layout\":\"cow\"}",
        "DELETE /v1/volumes/fz1",
        "POST /v1/sets {\"volumes\":[\"fz\"],\"context\":\"client-accessible\"}",
        "POST /v1/shadows/delete {\"volume\":\"fz\",\"oldest\":true}",
        "POST /v1/sessions {\"context\":\"backup\",\"backup_type\":\"full\",\"lease_seconds\":30}",
        "PUT /v1/shadowstorage/fz {\"maxsize\":\"64M\"}",
        "POST /v1/writers {\"name\":\"fzw\",\"lease_seconds\":5}",
        "POST /v1/shadows/00000000-0000-0000-0000-000000000000/protect {\"until\":\"2030-01-01\"}",
        "POST /v1/shadows/00000000/expose {\"mount\":\"/tmp/fz\"}",
        "GET /v1/writers/00000000-0000-0000-0000-000000000000/events?wait=1",
    };

    static final String[] VALUES = {"-1", "0", "1e308", "-1e308", "9999999999999999999999", "\"\"", "null", "[]", "{}",
        "\"1P\"", "\"8E\"", "\"..\"", "\"/etc/shadow\"", "\"\\u0000\"", "true", "\"%00\"", "[[[[[[]]]]]]", "0.5"};

    String mutate(String template) {
        int sp = template.indexOf(' ');
        int body = template.indexOf(' ', sp + 1);
        String method = template.substring(0, sp);
        String path = body < 0 ? template.substring(sp + 1) : template.substring(sp + 1, body);
        String json = body < 0 ? null : template.substring(body + 1);
        if (json != null && random.nextInt(3) == 0) {
            // a JSON value replaced by a hostile one
            int colon = json.indexOf(':', random.nextInt(json.length()));
            if (colon > 0) {
                int end = colon + 1;
                while (end < json.length() && json.charAt(end) != ',' && json.charAt(end) != '}') {
                    end++;
                }
                json = json.substring(0, colon + 1) + VALUES[random.nextInt(VALUES.length)] + json.substring(end);
            }
        }
        String req = Wire.request(method, path, json);
        byte[] b = req.getBytes(StandardCharsets.ISO_8859_1);
        switch (random.nextInt(8)) {
            case 0 -> { } // as is (or with only the value above changed)
            case 1 -> { // flip bytes
                for (int i = 0, n = 1 + random.nextInt(6); i < n; i++) {
                    b[random.nextInt(b.length)] ^= (byte) (1 << random.nextInt(8));
                }
            }
            case 2 -> b = java.util.Arrays.copyOf(b, random.nextInt(b.length)); // truncated
            case 3 -> { // random bytes inserted
                int at = random.nextInt(b.length);
                byte[] junk = new byte[1 + random.nextInt(40)];
                random.nextBytes(junk);
                byte[] out = new byte[b.length + junk.length];
                System.arraycopy(b, 0, out, 0, at);
                System.arraycopy(junk, 0, out, at, junk.length);
                System.arraycopy(b, at, out, at + junk.length, b.length - at);
                b = out;
            }
            case 4 -> b = req.replaceFirst("Content-Length: \\d+", "Content-Length: " + (random.nextInt(200) - 20))
                    .getBytes(StandardCharsets.ISO_8859_1); // a lying (or negative) length
            case 5 -> b = req.replace("Host: x\r\n", "Host: x\r\nContent-Length: 3\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1); // two lengths
            case 6 -> b = req.replaceFirst("/v1/[a-z]+", List.of("/v1/%00", "/v1/..", "/v1/" + "a".repeat(9000),
                    "/v1/%2e%2e/%2e%2e", "/v1/status/extra", "//v1//volumes")
                    .get(random.nextInt(6))).getBytes(StandardCharsets.ISO_8859_1);
            default -> b = req.replaceFirst("^[A-Z]+", List.of("PATCH", "get", "G\u0000T", "OPTIONS", "DELETE", "PUT")
                    .get(random.nextInt(6))).getBytes(StandardCharsets.ISO_8859_1);
        }
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    @Test
    void mutatedApiRequestsAreAnsweredOrClosedAndChangeNothingElse() throws Exception {
        String before = keepData();
        Map<Integer, Integer> statuses = new TreeMap<>();
        List<String> internal = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < API_REQUESTS; i++) {
            String req = mutate(TEMPLATES[random.nextInt(TEMPLATES.length)]);
            byte[] answer;
            try (Wire w = Wire.unix(daemon.state.resolve("shadowcopy.sock"), BOUND)) {
                w.send(req).endOutput();
                answer = w.readToEnd();
                assertFalse(w.timedOut, "no answer or close within " + BOUND + " (seed " + seed + ", request " + i
                        + "): " + printable(req));
            }
            int status = Wire.status(answer);
            statuses.merge(status, 1, Integer::sum);
            if (status == 500) {
                internal.add(printable(req) + " -> " + printable(new String(answer, StandardCharsets.UTF_8)));
            }
        }
        System.out.printf("API fuzz: %d requests in %.1f s, statuses %s (-1: closed without an answer)%n",
                API_REQUESTS, (System.nanoTime() - t0) / 1e9, statuses);
        assertEquals(List.of(), internal, "internal errors (seed " + seed + ")");
        stillServesAndNothingUnexpected(before);
    }

    static String printable(String s) {
        String t = s.replaceAll("[^\\x20-\\x7e]", "?");
        return t.length() <= 300 ? t : t.substring(0, 297) + "...";
    }

    // ------------------------------------------------------------------ NBD

    static final long IHAVEOPT = 0x49484156454F5054L;

    byte[] option(int option, byte[] data, int lie) {
        return ByteBuffer.allocate(16 + data.length).putLong(IHAVEOPT).putInt(option)
                .putInt(Math.max(0, data.length + lie)).put(data).array();
    }

    byte[] go(String export) {
        byte[] name = export.getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.allocate(6 + name.length).putInt(name.length).put(name).putShort((short) 0).array();
    }

    byte[] request(int flags, int type, long offset, int length, boolean payload) {
        ByteBuffer b = ByteBuffer.allocate(28 + (payload ? length : 0)).putInt(0x25609513).putShort((short) flags)
                .putShort((short) type).putLong(random.nextLong()).putLong(offset).putInt(length);
        return b.array();
    }

    @Test
    void mutatedNbdFramesAreAnsweredOrClosedAndChangeNothingElse() throws Exception {
        String before = keepData();
        String copy = Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out()).path("shadows").get(0)
                .path("nbd_export").asText();
        long t0 = System.nanoTime();
        int frames = 0;
        for (int i = 0; i < NBD_CONNECTIONS; i++) {
            List<byte[]> send = new ArrayList<>();
            send.add(ByteBuffer.allocate(4).putInt(random.nextInt(10) == 0 ? random.nextInt() : 1).array());
            boolean negotiateOnly = random.nextBoolean();
            if (negotiateOnly) {
                for (int k = 0, n = 1 + random.nextInt(8); k < n; k++) {
                    byte[] data = new byte[random.nextInt(48)];
                    random.nextBytes(data);
                    int opt = random.nextInt(4) == 0 ? random.nextInt() : random.nextInt(12);
                    send.add(option(opt, data, random.nextInt(8) == 0 ? random.nextInt(64) - 8 : 0));
                }
            } else {
                // a real GO on the scratch volume (or, read-only, on the protected copy), then mutated requests
                send.add(option(7, go(random.nextInt(4) == 0 ? copy : "fz"), 0));
                for (int k = 0, n = 1 + random.nextInt(10); k < n; k++) {
                    int type = random.nextInt(10);
                    int length = random.nextInt(5) == 0 ? random.nextInt() : random.nextInt(70_000);
                    long offset = random.nextInt(5) == 0 ? random.nextLong() : random.nextInt(5 << 20);
                    byte[] r = request(random.nextInt(64), type, offset, length, type == 1 && length >= 0
                            && length < 70_000 && random.nextInt(6) != 0);
                    if (random.nextInt(15) == 0) {
                        r[random.nextInt(r.length)] ^= (byte) 0xff;
                    }
                    send.add(r);
                }
            }
            frames += send.size();
            try (Wire w = Wire.unix(daemon.state.resolve("nbd.sock"), BOUND)) {
                w.read(18);
                Thread drain = Thread.ofVirtual().start(w::readToEnd); // replies flow while requests are sent
                for (byte[] f : send) {
                    try {
                        w.send(f);
                    } catch (IOException e) {
                        break; // the server closed on a broken frame: fine
                    }
                }
                try {
                    w.endOutput();
                } catch (IOException e) {
                    // closed already
                }
                drain.join(BOUND.toMillis() + 1000);
                assertFalse(w.timedOut, "the NBD server neither answered nor closed within " + BOUND + " (seed "
                        + seed + ", connection " + i + ")");
            }
        }
        System.out.printf("NBD fuzz: %d connections, %d frames in %.1f s%n", NBD_CONNECTIONS, frames,
                (System.nanoTime() - t0) / 1e9);
        assertTrue(sh("nbdinfo --size " + nbd("fz")).ok().out().contains("4194304"));
        stillServesAndNothingUnexpected(before);
    }
}
