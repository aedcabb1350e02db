package dev.shadowcopy.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.shadowcopy.nbd.protocol.Nbd;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Random and mutated byte streams against the real server over a real socket: whatever arrives, the server
 * answers or closes within the deadline (never hangs), and a fresh client is served afterwards.
 */
class FuzzProperties {
    private static Path dir;
    private static NbdFixture nbd;

    @BeforeContainer
    static void start() throws IOException {
        dir = Files.createTempDirectory("nbd-fuzz");
        nbd = new NbdFixture(dir);
        nbd.volumes.create(VolumeConfig.sparse("vol", 4L << 20));
    }

    @AfterContainer
    static void stop() throws IOException {
        nbd.close();
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Provide
    Arbitrary<List<byte[]>> options() {
        Arbitrary<Integer> option = Arbitraries.oneOf(Arbitraries.integers().between(0, 12),
                Arbitraries.integers());
        Arbitrary<byte[]> data = Arbitraries.bytes().array(byte[].class).ofMaxSize(64);
        Arbitrary<byte[]> valid = Combinators.combine(option, data, Arbitraries.integers().between(-8, 8))
                .as((o, d, lie) -> {
                    ByteBuffer b = ByteBuffer.allocate(16 + d.length).putLong(Nbd.IHAVEOPT).putInt(o)
                            .putInt(Math.max(0, d.length + (lie > 5 ? lie : 0))).put(d);
                    return b.array();
                });
        Arbitrary<byte[]> garbage = Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(40);
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(9, valid), net.jqwik.api.Tuple.of(1, garbage))
                .list().ofMaxSize(12);
    }

    @Property(tries = 150)
    void negotiationSurvivesAnyOptionStream(@ForAll("options") List<byte[]> frames,
                                             @ForAll boolean byteByByte) throws IOException {
        try (RawClient c = new RawClient(nbd.server.unixSocket(), 10_000)) {
            c.read(18);
            c.send(ByteBuffer.allocate(4).putInt(Nbd.FLAG_C_FIXED_NEWSTYLE).flip());
            for (byte[] f : frames) {
                if (byteByByte) {
                    c.sendByteByByte(f);
                } else {
                    c.send(f);
                }
            }
        } catch (IOException e) {
            // the server may close on a broken frame: fine
        }
        stillServes();
    }

    @Provide
    Arbitrary<List<ByteBuffer>> requests() {
        Arbitrary<ByteBuffer> r = Combinators.combine(Arbitraries.integers().between(0, 31),
                Arbitraries.integers().between(0, 9), Arbitraries.longs().between(-8192, 5L << 20),
                Arbitraries.integers().between(0, 70_000), Arbitraries.integers().between(0, 20))
                .as((flags, type, offset, length, corrupt) -> {
                    ByteBuffer b = RawClient.request(flags, type, 1, offset, length);
                    if (corrupt == 0) {
                        b.put(0, (byte) 0x7f); // a bad magic now and then
                    }
                    if (type == Nbd.CMD_WRITE && corrupt != 1) {
                        ByteBuffer w = ByteBuffer.allocate(28 + length).put(b).put(new byte[length]);
                        return w.flip();
                    }
                    return b;
                });
        return r.list().ofMaxSize(10);
    }

    @Property(tries = 150)
    void transmissionSurvivesAnyRequestStream(@ForAll("requests") List<ByteBuffer> requests) throws IOException {
        RawClient c = new RawClient(nbd.server.unixSocket(), 10_000);
        try (c) {
            c.hello();
            c.send(RawClient.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
            c.optionReply();
            c.go("vol");
            for (ByteBuffer r : requests) {
                c.send(r);
            }
            c.send(RawClient.request(0, Nbd.CMD_DISC, 0, 0, 0));
            c.closedByServer();
        } catch (IOException e) {
            // a broken frame ends the connection: fine
        }
        // A write header sent without its payload makes the server wait for the payload bytes, as any server
        // must; the session then ends on the client's deadline, which is not a hang of the server.
        boolean truncatedWrite = requests.stream().anyMatch(r -> r.getInt(0) == Nbd.REQUEST_MAGIC
                && r.getShort(6) == Nbd.CMD_WRITE && r.limit() == 28 && r.getInt(24) > 0);
        if (!truncatedWrite) {
            assertFalse(c.timedOut, () -> "the server neither answered nor closed within 10 s: " + describe(requests));
        }
        stillServes();
    }

    private static String describe(List<ByteBuffer> requests) {
        StringBuilder b = new StringBuilder();
        for (ByteBuffer r : requests) {
            b.append(String.format("[magic %08x flags %d type %d offset %d length %d, %d bytes] ", r.getInt(0),
                    r.getShort(4), r.getShort(6), r.getLong(16), r.getInt(24), r.limit()));
        }
        return b.toString();
    }

    private static void stillServes() throws IOException {
        try (RawClient c = new RawClient(nbd.server.unixSocket(), 10_000)) {
            c.hello();
            assertEquals(4L << 20, c.go("vol"));
            byte[] data = Segments.random(512, 3);
            c.send(RawClient.request(0, Nbd.CMD_WRITE, 5, 1024, 512));
            c.send(data);
            assertEquals(new RawClient.Simple(0, 5), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_READ, 6, 1024, 512));
            assertEquals(new RawClient.Simple(0, 6), c.simpleReply());
            assertArrayEquals(data, c.read(512).array());
        }
    }
}
