package dev.shadowcopy.service.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.service.peer.Caller;
import dev.shadowcopy.service.peer.Role;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The API server's connection limits on a real Unix socket. The gate is the test's seam: it says who the
 * (same-user) test connections are, so one process can play a flooding operator and then root.
 */
class HttpServerLimitsTest {
    @TempDir
    Path dir;
    volatile Caller who = new Caller("mallory", Role.OPERATOR);

    HttpServer server() throws IOException {
        HttpLimits limits = new HttpLimits(4, 2, Duration.ofSeconds(30), Duration.ofSeconds(10),
                Duration.ofSeconds(10));
        return HttpServer.start(dir.resolve("api.sock"), null, peer -> who, limits,
                ex -> ex.respond(200, "{}".getBytes(StandardCharsets.UTF_8)), t -> new Exchange.Answer(500, new byte[0]));
    }

    /** Connects and asks for /; the status line of the answer. */
    static String ask(SocketChannel c) throws IOException {
        try {
            c.write(ByteBuffer.wrap("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1)));
        } catch (IOException e) {
            // a refused connection was answered and closed before we asked: the answer is waiting to be read
        }
        ByteBuffer b = ByteBuffer.allocate(4096);
        while (c.read(b) > 0 && !new String(b.array(), 0, b.position(), StandardCharsets.ISO_8859_1).contains("}")) {
            // until the JSON body is in
        }
        return new String(b.array(), 0, b.position(), StandardCharsets.ISO_8859_1);
    }

    SocketChannel open() throws IOException {
        SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
        c.connect(UnixDomainSocketAddress.of(dir.resolve("api.sock")));
        return c;
    }

    @Test
    void aUserBeyondItsLimitIsRefusedWhileRootStillGetsIn() throws Exception {
        List<SocketChannel> open = new ArrayList<>();
        try (HttpServer s = server()) {
            for (int i = 0; i < 2; i++) {
                open.add(open());
                assertTrue(ask(open.getLast()).startsWith("HTTP/1.1 200"));
            }
            String refused = ask(open());
            assertTrue(refused.startsWith("HTTP/1.1 503") && refused.contains("TOO_MANY_CONNECTIONS")
                    && refused.contains("user mallory has 2 API connections open (limit 2 per user)"), refused);

            who = new Caller("root", Role.ADMIN); // root is held to neither the per-user limit nor the total
            for (int i = 0; i < 4; i++) {
                open.add(open());
                assertTrue(ask(open.getLast()).startsWith("HTTP/1.1 200"), "root's connection " + i);
            }
            who = new Caller("eve", Role.OPERATOR); // 6 open: over the total of 4 for everyone else
            String full = ask(open());
            assertTrue(full.startsWith("HTTP/1.1 503") && full.contains("limit 4"), full);
            assertEquals(2, s.stats().refusedBusy(), "both refusals counted");
        } finally {
            for (SocketChannel c : open) {
                c.close();
            }
        }
    }
}
