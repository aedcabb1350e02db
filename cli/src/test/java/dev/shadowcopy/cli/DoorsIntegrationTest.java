package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The doors under abuse, against a real daemon process: descriptor exhaustion, slow and half-sent requests,
 * idle and never-negotiating clients, a stuck daemon seen from the CLI. Whatever one client does, the daemon
 * goes on serving the others, and says so once in its log, not once per failure.
 */
class DoorsIntegrationTest {
    static final Duration BOUND = Duration.ofSeconds(30);

    @TempDir
    Path tmp;
    DaemonProcess daemon;
    final List<SocketChannel> held = new ArrayList<>();

    DaemonProcess start(String... args) throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state"), args).start();
        return daemon;
    }

    @AfterEach
    void stop() throws Exception {
        for (SocketChannel c : held) {
            c.close();
        }
        if (daemon != null) {
            sh("kill -CONT " + daemon.pid() + " 2>/dev/null; true");
            daemon.close();
        }
    }

    Path api() {
        return daemon.state.resolve("shadowcopy.sock");
    }

    Path nbd() {
        return daemon.state.resolve("nbd.sock");
    }

    JsonNode status() throws Exception {
        return Json.MAPPER.readTree(body(Wire.http(api(), Wire.request("GET", "/v1/status", null), BOUND)));
    }

    static String body(byte[] answer) {
        String s = new String(answer, java.nio.charset.StandardCharsets.UTF_8);
        int i = s.indexOf("\r\n\r\n");
        return i < 0 ? s : s.substring(i + 4);
    }

    long lines(String needle) throws IOException {
        return daemon.log().lines().filter(l -> l.contains(needle)).count();
    }

    /** Opens connections to {@code socket} (blocking, as a patient client does) until told to stop. */
    Thread flood(Path socket, AtomicBoolean stop, int max) {
        return Thread.ofPlatform().daemon().start(() -> {
            for (int i = 0; i < max && !stop.get(); i++) {
                try {
                    SocketChannel c = SocketChannel.open(java.net.StandardProtocolFamily.UNIX);
                    synchronized (held) {
                        held.add(c);
                    }
                    c.connect(java.net.UnixDomainSocketAddress.of(socket)); // queued in the backlog if not accepted
                } catch (IOException e) {
                    return; // closed by the test while waiting: the flood is over
                }
            }
        });
    }

    void closeFlood(AtomicBoolean stop, Thread flooder) throws Exception {
        stop.set(true);
        synchronized (held) {
            for (SocketChannel c : held) {
                c.close();
            }
            held.clear();
        }
        flooder.join(BOUND.toMillis());
        assertFalse(flooder.isAlive(), "the flood did not stop");
    }

    @Test
    void theDaemonServesAgainAfterConnectionsExhaustedItsFileDescriptors() throws Exception {
        start("--api-max-connections", "100000", "--api-max-connections-per-user", "100000",
                "--nbd-max-connections", "100000");
        long open;
        try (var fds = Files.list(Path.of("/proc/" + daemon.pid() + "/fd"))) {
            open = fds.count();
        }
        long limit = open + 150;
        sh("prlimit --pid " + daemon.pid() + " --nofile=" + limit + ":" + limit).ok();

        AtomicBoolean stop = new AtomicBoolean();
        Thread flooder = flood(api(), stop, 2000);
        await(BOUND, () -> {
            try {
                return lines("accept failed: Too many open files") > 0;
            } catch (IOException e) {
                return false;
            }
        }, "the API's accept to fail with EMFILE");
        // the NBD socket meets the same limit while the API's connections hold every descriptor
        AtomicBoolean stopNbd = new AtomicBoolean();
        Thread nbdFlooder = flood(nbd(), stopNbd, 200);
        await(BOUND, () -> {
            try {
                return lines("NBD socket") > 0 && lines("accept failed: Too many open files") >= 2;
            } catch (IOException e) {
                return false;
            }
        }, "the NBD socket's accept to fail with EMFILE");
        closeFlood(stop, flooder);
        closeFlood(stopNbd, nbdFlooder);

        // once descriptors are free the API answers, and the NBD socket serves a real client
        await(BOUND, () -> {
            try {
                return status().path("api").path("accept_failures").asLong() > 0;
            } catch (Exception e) {
                return false;
            }
        }, "the API to answer again");
        daemon.cli("volume", "create", "v", "--size", "4M").ok();
        assertTrue(sh("nbdinfo --size 'nbd+unix:///v?socket=" + nbd() + "'").ok().out().contains("4194304"));
        await(BOUND, () -> {
            try {
                return lines("accepting again after") >= lines("accept failed: Too many open files");
            } catch (IOException e) {
                return false;
            }
        }, "both listeners to log their recovery");
        // one warning and one recovery line per listener and episode, not one per failed accept (a listener may
        // have several short episodes while the flood runs: any descriptor the JVM frees lets one accept through)
        long warnings = lines("accept failed: Too many open files");
        assertEquals(warnings, lines("accepting again after"), daemon.log());
        assertTrue(warnings >= 2 && warnings <= 20 && daemon.log().lines().count() < 300, daemon.log());
        System.out.println("fd flood: limit " + limit + ", accept failures " + status().path("api")
                .path("accept_failures").asLong() + " (API), log lines " + daemon.log().lines().count());
    }

    @Test
    void aSlowOrHalfSentRequestIsCutOffWhileOthersAreServed() throws Exception {
        start("--api-request-timeout", "2", "--api-idle-timeout", "3");
        long t0 = System.nanoTime();
        try (Wire slow = Wire.unix(api(), BOUND); Wire half = Wire.unix(api(), BOUND);
             Wire idle = Wire.unix(api(), BOUND)) {
            slow.send("GET /v1/status HTTP/1.1\r\n");
            half.send("POST /v1/sessions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"cont");
            boolean slowCut = false;
            while (!slowCut && System.nanoTime() - t0 < BOUND.toNanos()) {
                try {
                    slow.send("X-Slow: 1\r\n"); // a header a second: each byte in time, the request never whole
                } catch (IOException e) {
                    slowCut = true;
                }
                daemon.cli("list", "volumes").ok(); // everyone else is served meanwhile
            }
            assertTrue(slowCut, "the slowloris was never cut off");
            double cutAfter = (System.nanoTime() - t0) / 1e9;
            assertTrue(cutAfter >= 2 && cutAfter < 10, "cut off after " + cutAfter + " s (request timeout 2 s)");
            assertTrue(half.closedByPeer(), "the half-sent body was not cut off");
            assertTrue(idle.closedByPeer(), "the idle connection was not closed");
            assertFalse(slow.timedOut || half.timedOut || idle.timedOut);
        }
        assertTrue(status().path("api").path("timed_out").asLong() >= 3);
    }

    @Test
    void anNbdClientThatNeverNegotiatesIsDroppedAndConnectionsAreBounded() throws Exception {
        start("--nbd-handshake-timeout", "4", "--nbd-max-connections", "3");
        long t0 = System.nanoTime();
        try (Wire silent = Wire.unix(nbd(), BOUND)) {
            assertEquals(18, silent.read(18).length, "the greeting");
            assertTrue(silent.closedByPeer(), "a client that says nothing must be dropped");
            double s = (System.nanoTime() - t0) / 1e9;
            assertTrue(s >= 3.5 && s < 15, "dropped after " + s + " s (handshake timeout 4 s)");
        }
        // root may go 32 beyond the limit; the next connection is closed before the greeting
        List<Wire> open = new ArrayList<>();
        try {
            for (int i = 0; i < 3 + 32; i++) {
                Wire w = Wire.unix(nbd(), BOUND);
                open.add(w);
                assertEquals(18, w.read(18).length, "connection " + i + " within the limits is greeted");
            }
            try (Wire over = Wire.unix(nbd(), BOUND)) {
                assertEquals(0, over.read(18).length, "a connection over the limit is closed at once");
                assertFalse(over.timedOut);
            }
        } finally {
            for (Wire w : open) {
                w.close();
            }
        }
        daemon.cli("volume", "create", "v", "--size", "4M").ok();
        await(BOUND, () -> {
            try {
                return sh("nbdinfo --size 'nbd+unix:///v?socket=" + nbd() + "'").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        }, "NBD to serve once the connections are closed");
    }

    @Test
    void theCliGivesUpOnAStuckDaemonWithAClearMessage() throws Exception {
        start();
        daemon.cli("volume", "create", "v", "--size", "4M").ok();
        sh("kill -STOP " + daemon.pid()).ok();
        long t0 = System.nanoTime();
        DaemonProcess.Result r = daemon.cli("list", "volumes", "--timeout", "2");
        double s = (System.nanoTime() - t0) / 1e9;
        assertEquals(75, r.exit(), r.toString());
        assertTrue(r.err().contains("TIMEOUT") && r.err().contains("did not answer GET /v1/volumes within 2 s")
                && r.err().contains("--timeout"), r.err());
        assertTrue(s < 20, "the CLI waited " + s + " s");
        sh("kill -CONT " + daemon.pid()).ok();
        assertTrue(daemon.cli("list", "volumes").ok().out().contains("v"));
    }
}
