package dev.shadowcopy.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.nbd.protocol.Nbd;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Negotiation and transmission at the byte level: errors, limits, fragments, vanishing and many clients. */
class ProtocolTest {
    private static final long DEADLINE = 20_000;
    private static final int MIB = 1 << 20;
    @TempDir
    Path dir;
    NbdFixture nbd;
    ManagedVolume vol;

    @BeforeEach
    void start() throws IOException {
        nbd = new NbdFixture(dir);
        vol = nbd.volumes.create(VolumeConfig.sparse("vol", 16L * MIB));
    }

    @AfterEach
    void stop() throws IOException {
        nbd.close();
    }

    private RawClient client() throws IOException {
        return new RawClient(nbd.server.unixSocket(), DEADLINE);
    }

    /** A fresh client can still negotiate, write and read back: the server survived whatever came before. */
    private void serverStillServes() throws IOException {
        try (RawClient c = client()) {
            c.hello();
            assertEquals(16L * MIB, c.go("vol"));
            byte[] data = Segments.random(4096, 99);
            c.send(RawClient.request(0, Nbd.CMD_WRITE, 1, 8192, 4096));
            c.send(data);
            assertEquals(new RawClient.Simple(0, 1), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_READ, 2, 8192, 4096));
            assertEquals(new RawClient.Simple(0, 2), c.simpleReply());
            assertArrayEquals(data, c.read(4096).array());
        }
    }

    @Test
    void aHandshakeSentOneByteAtATimeIsReassembled() throws IOException {
        try (RawClient c = client()) {
            c.read(18);
            c.sendByteByByte(ByteBuffer.allocate(4).putInt(Nbd.FLAG_C_FIXED_NEWSTYLE).array());
            c.sendByteByByte(RawClient.option(Nbd.OPT_GO, RawClient.goData("vol")));
            RawClient.OptionReply info = c.optionReply();
            assertEquals(Nbd.REP_INFO, info.type());
            assertEquals(Nbd.REP_ACK, c.optionReply().type());
            c.sendByteByByte(RawClient.request(0, Nbd.CMD_FLUSH, 7, 0, 0).array());
            assertEquals(new RawClient.Simple(0, 7), c.simpleReply());
        }
    }

    @Test
    void anUnknownOptionGetsErrUnsupAndNegotiationGoesOn() throws IOException {
        try (RawClient c = client()) {
            c.hello();
            c.send(RawClient.option(99, new byte[] {1, 2, 3}));
            RawClient.OptionReply r = c.optionReply();
            assertEquals(Nbd.REP_ERR_UNSUP, r.type());
            assertEquals(99, r.option());
            assertEquals(16L * MIB, c.go("vol"));
        }
    }

    @Test
    void malformedOptionDataGetsErrInvalidWithAReason() throws IOException {
        try (RawClient c = client()) {
            c.hello();
            byte[] lying = ByteBuffer.allocate(8).putInt(1000).putInt(0).array(); // name length 1000, 4 bytes
            c.send(RawClient.option(Nbd.OPT_GO, lying));
            RawClient.OptionReply r = c.optionReply();
            assertEquals(Nbd.REP_ERR_INVALID, r.type());
            assertTrue(r.text().contains("expected"), r.text());
            c.send(RawClient.option(Nbd.OPT_LIST, new byte[] {1}));
            assertEquals(Nbd.REP_ERR_INVALID, c.optionReply().type());
            c.send(RawClient.option(Nbd.OPT_SET_META_CONTEXT, new byte[4]));
            assertEquals(Nbd.REP_ERR_INVALID, c.optionReply().type(), "meta contexts need structured replies");
            assertEquals(16L * MIB, c.go("vol"));
        }
    }

    @Test
    void anUnknownExportGetsErrUnknownOnGoAndADisconnectOnExportName() throws IOException {
        try (RawClient c = client()) {
            c.hello();
            c.send(RawClient.option(Nbd.OPT_GO, RawClient.goData("nope")));
            RawClient.OptionReply r = c.optionReply();
            assertEquals(Nbd.REP_ERR_UNKNOWN, r.type());
            c.send(RawClient.option(Nbd.OPT_EXPORT_NAME, "nope".getBytes(StandardCharsets.UTF_8)));
            assertTrue(c.closedByServer());
        }
        serverStillServes();
    }

    @Test
    void oversizedOptionDataIsSkippedWithErrTooBig() throws IOException {
        try (RawClient c = client()) {
            c.hello();
            c.send(RawClient.option(Nbd.OPT_LIST, new byte[200_000]));
            assertEquals(Nbd.REP_ERR_TOO_BIG, c.optionReply().type());
            assertEquals(16L * MIB, c.go("vol"));
        }
    }

    @Test
    void aBadOptionMagicDropsOnlyThatConnection() throws IOException {
        try (RawClient c = client()) {
            c.hello();
            c.send(new byte[16]);
            assertTrue(c.closedByServer());
        }
        serverStillServes();
    }

    @Test
    void outOfRangeAndMalformedRequestsGetErrorsAndTheConnectionGoesOn() throws IOException {
        try (RawClient c = client()) {
            c.hello();
            c.go("vol");
            c.send(RawClient.request(0, Nbd.CMD_READ, 1, 16L * MIB - 100, 200));
            assertEquals(new RawClient.Simple(Nbd.EINVAL, 1), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_WRITE, 2, 16L * MIB - 100, 200));
            c.send(new byte[200]);
            assertEquals(new RawClient.Simple(Nbd.ENOSPC, 2), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_READ, 3, -4096, 4096)); // offset 2^64 - 4096
            assertEquals(new RawClient.Simple(Nbd.EINVAL, 3), c.simpleReply());
            c.send(RawClient.request(0, 42, 4, 0, 0));
            assertEquals(new RawClient.Simple(Nbd.EINVAL, 4), c.simpleReply());
            c.send(RawClient.request(Nbd.CMD_FLAG_REQ_ONE, Nbd.CMD_READ, 5, 0, 512)); // flag not valid for read
            assertEquals(new RawClient.Simple(Nbd.EINVAL, 5), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_BLOCK_STATUS, 6, 0, 512)); // no context negotiated
            assertEquals(new RawClient.Simple(Nbd.EINVAL, 6), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_WRITE, 7, 0, 40 << 20)); // above the maximum block size
            c.send(new byte[40 << 20]);
            assertEquals(new RawClient.Simple(Nbd.EINVAL, 7), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_READ, 8, 0, 0));
            assertEquals(new RawClient.Simple(0, 8), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_FLUSH, 9, 0, 0));
            assertEquals(new RawClient.Simple(0, 9), c.simpleReply());
        }
        MemorySegment tail = Segments.allocate(100);
        vol.read(16L * MIB - 100, tail);
        assertArrayEquals(new byte[100], Segments.bytes(tail), "the refused write changed nothing");
    }

    @Test
    void structuredRepliesCarryReadsAndErrorsWithMessages() throws IOException {
        vol.write(0, Segments.of(Segments.filled(4096, 0x5a)), true);
        try (RawClient c = client()) {
            c.hello();
            c.send(RawClient.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
            assertEquals(Nbd.REP_ACK, c.optionReply().type());
            c.go("vol");
            c.send(RawClient.request(0, Nbd.CMD_READ, 11, 0, 4096));
            ByteBuffer h = c.read(20);
            assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, h.getInt());
            assertEquals(Nbd.REPLY_FLAG_DONE, h.getShort());
            assertEquals(Nbd.REPLY_TYPE_OFFSET_DATA, h.getShort());
            assertEquals(11, h.getLong());
            assertEquals(8 + 4096, h.getInt());
            assertEquals(0, c.read(8).getLong());
            assertArrayEquals(Segments.filled(4096, 0x5a), c.read(4096).array());
            c.send(RawClient.request(0, Nbd.CMD_READ, 12, 16L * MIB, 1));
            ByteBuffer e = c.read(20);
            e.position(6);
            assertEquals(Nbd.REPLY_TYPE_ERROR & 0xffff, Short.toUnsignedInt((short) (e.getShort(6))));
            ByteBuffer body = c.read(e.getInt(16));
            assertEquals(Nbd.EINVAL, body.getInt());
            byte[] msg = new byte[Short.toUnsignedInt(body.getShort())];
            body.get(msg);
            assertTrue(new String(msg, StandardCharsets.UTF_8).contains("beyond the end"));
        }
    }

    @Test
    void aClientThatVanishesMidRequestDoesNotHurtOthers() throws IOException {
        for (int i = 0; i < 5; i++) {
            RawClient c = client();
            c.hello();
            c.go("vol");
            c.send(RawClient.request(0, Nbd.CMD_WRITE, 1, 0, MIB));
            c.send(new byte[1000]); // then gone, with most of the payload unsent
            c.close();
        }
        try (RawClient c = client()) {
            c.hello();
            c.go("vol");
            c.send(RawClient.request(0, Nbd.CMD_READ, 1, 0, MIB)); // then gone before reading the reply
        }
        serverStillServes();
    }

    @Test
    void aWriteToAShadowCopyGetsEpermOverTheWire() throws IOException {
        var copy = vol.createShadowCopy(ShadowCopyId.random(), true);
        try (RawClient c = client()) {
            c.hello();
            c.go("shadow/" + copy.id());
            c.send(RawClient.request(0, Nbd.CMD_WRITE, 1, 0, 512));
            c.send(new byte[512]);
            assertEquals(new RawClient.Simple(Nbd.EPERM, 1), c.simpleReply());
            c.send(RawClient.request(0, Nbd.CMD_TRIM, 2, 0, 512));
            assertEquals(new RawClient.Simple(Nbd.EPERM, 2), c.simpleReply());
        }
    }

    @Test
    void sixteenClientsAtOnceEachSeeTheirOwnWrites() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(16);
        List<Future<?>> done = new ArrayList<>();
        for (int t = 0; t < 16; t++) {
            int client = t;
            done.add(pool.submit(() -> {
                try (RawClient c = client()) {
                    c.hello();
                    c.go("vol");
                    Random r = new Random(client);
                    long base = client * (long) MIB; // each client its own MiB
                    java.util.Map<Long, byte[]> last = new java.util.HashMap<>();
                    for (int i = 0; i < 50; i++) {
                        long off = base + r.nextInt(MIB / 4096) * 4096L;
                        byte[] data = Segments.random(4096, r.nextInt());
                        last.put(off, data);
                        c.send(RawClient.request(0, Nbd.CMD_WRITE, i, off, 4096));
                        c.send(data);
                        c.send(RawClient.request(0, Nbd.CMD_FLUSH, 10_000 + i, 0, 0));
                    }
                    for (int i = 0; i < 100; i++) { // pipelined: replies in any order, each exactly once
                        assertEquals(0, c.simpleReply().error());
                    }
                    long cookie = 20_000;
                    for (var e : last.entrySet()) {
                        c.send(RawClient.request(0, Nbd.CMD_READ, cookie, e.getKey(), 4096));
                        assertEquals(new RawClient.Simple(0, cookie++), c.simpleReply());
                        assertArrayEquals(e.getValue(), c.read(4096).array(), "client " + client + " at " + e.getKey());
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : done) {
            f.get(60, TimeUnit.SECONDS);
        }
        pool.shutdown();
        serverStillServes();
    }
}
