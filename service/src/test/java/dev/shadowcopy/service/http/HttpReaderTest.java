package dev.shadowcopy.service.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/** The API's request parser against malformed, truncated and oversized input. */
class HttpReaderTest {
    static HttpRequest parse(String s) throws IOException {
        return new HttpReader(new ByteArrayInputStream(s.getBytes(StandardCharsets.ISO_8859_1))).readRequest(1024);
    }

    static int status(String s) {
        return assertThrows(HttpException.class, () -> parse(s)).status();
    }

    @Test
    void parsesARequestWithBodyQueryAndEncodedSegments() throws IOException {
        HttpRequest r = parse("POST /v1/volumes/a%20b/attach?force=1&x=%2F HTTP/1.1\r\nContent-Length: 2\r\n"
                + "Connection: close\r\n\r\n{}");
        assertEquals("POST", r.method());
        assertEquals(java.util.List.of("v1", "volumes", "a b", "attach"), r.segments());
        assertEquals("1", r.query().get("force"));
        assertEquals("/", r.query().get("x"));
        assertEquals("{}", r.bodyText());
        assertTrue(!r.keepAlive());
    }

    @Test
    void refusesWhatItCannotServeWithTheRightStatus() {
        assertEquals(400, status("GARBAGE\r\n\r\n"));
        assertEquals(400, status("get / HTTP/1.1\r\n\r\n"));
        assertEquals(400, status("GET relative HTTP/1.1\r\n\r\n"));
        assertEquals(400, status("GET /v1/../etc HTTP/1.1\r\n\r\n"));
        assertEquals(400, status("GET /v1/%zz HTTP/1.1\r\n\r\n"));
        assertEquals(400, status("GET / HTTP/1.1\r\nno colon here\r\n\r\n"));
        assertEquals(431, status("GET /" + "a".repeat(HttpReader.MAX_LINE) + " HTTP/1.1\r\n\r\n"));
        assertEquals(431, status("GET / HTTP/1.1\r\n" + "X-A: b\r\n".repeat(HttpReader.MAX_HEADERS + 1) + "\r\n"));
        assertEquals(501, status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
        assertEquals(413, status("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"));
        assertEquals(400, status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"));
        assertEquals(400, status("POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n"));
    }

    @Test
    void truncatedRequestsAreEndOfStreamNotAHang() throws IOException {
        assertNull(parse(""));
        assertThrows(EOFException.class, () -> parse("GET / HTTP/1.1\r\nHost: x"));
        assertThrows(EOFException.class, () -> parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
    }

    /** Any byte soup ends in a request, a clean end, an HttpException or an EOF — nothing else, never a hang. */
    @Property(tries = 3000)
    void arbitraryInputNeverBreaksTheParser(@ForAll("soup") byte[] input) {
        try {
            HttpReader r = new HttpReader(new ByteArrayInputStream(input));
            for (int i = 0; i < 10 && r.readRequest(1024) != null; i++) {
                // keep reading pipelined requests
            }
        } catch (HttpException | EOFException e) {
            // a clear refusal
        } catch (IOException e) {
            throw new AssertionError("unexpected " + e, e);
        }
    }

    @Provide
    Arbitrary<byte[]> soup() {
        Arbitrary<String> pieces = Arbitraries.of("GET ", "POST ", "/v1/x", " HTTP/1.1", "\r\n", "\n", ":", " ",
                "Content-Length: ", "5", "-", "99999999999999999999", "Transfer-Encoding: chunked", "%", "%41", "..",
                "\u00ff", "\u0000", "Connection: close");
        return pieces.list().ofMaxSize(40).map(l -> String.join("", l).getBytes(StandardCharsets.ISO_8859_1));
    }
}
