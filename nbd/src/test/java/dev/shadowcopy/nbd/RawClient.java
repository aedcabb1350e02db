package dev.shadowcopy.nbd;

import dev.shadowcopy.nbd.protocol.Nbd;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Timer;
import java.util.TimerTask;

/**
 * A hand-driven NBD client for protocol tests: sends exactly the bytes a test wants (also one at a time),
 * reads replies, and never waits longer than a deadline (a watchdog closes the socket), so a server that hangs
 * fails the test instead of hanging it.
 */
final class RawClient implements AutoCloseable {
    private static final Timer WATCHDOG = new Timer("raw-client-watchdog", true);

    private final SocketChannel channel;
    private final TimerTask watchdog;
    volatile boolean timedOut;

    RawClient(Path socket, long deadlineMillis) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        watchdog = new TimerTask() {
            @Override
            public void run() {
                timedOut = true;
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // closing is all we wanted
                }
            }
        };
        WATCHDOG.schedule(watchdog, deadlineMillis);
    }

    void send(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    void send(byte[] bytes) throws IOException {
        send(ByteBuffer.wrap(bytes));
    }

    /** Sends one byte per write call: the server must reassemble fragments. */
    void sendByteByByte(byte[] bytes) throws IOException {
        for (byte b : bytes) {
            send(new byte[] {b});
        }
    }

    ByteBuffer read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException("server closed after " + b.position() + " of " + n + " bytes"
                        + (timedOut ? " (timed out)" : ""));
            }
        }
        return b.flip();
    }

    /** True if the server closed the connection (reads EOF) before the deadline. */
    boolean closedByServer() {
        try {
            ByteBuffer b = ByteBuffer.allocate(4096);
            while (true) {
                int n = channel.read(b);
                if (n < 0) {
                    return !timedOut;
                }
                b.clear();
            }
        } catch (IOException e) {
            return !timedOut;
        }
    }

    // ---------------------------------------------------------------- protocol helpers

    /** Reads the greeting and sends client flags (fixed newstyle, no zeroes). */
    void hello() throws IOException {
        ByteBuffer g = read(18);
        if (g.getLong() != Nbd.NBDMAGIC || g.getLong() != Nbd.IHAVEOPT) {
            throw new IOException("bad greeting");
        }
        send(ByteBuffer.allocate(4).putInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES).flip());
    }

    static byte[] option(int option, byte[] data) {
        return ByteBuffer.allocate(16 + data.length).putLong(Nbd.IHAVEOPT).putInt(option).putInt(data.length)
                .put(data).array();
    }

    record OptionReply(int option, int type, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    OptionReply optionReply() throws IOException {
        ByteBuffer h = read(20);
        long magic = h.getLong();
        if (magic != Nbd.OPTION_REPLY_MAGIC) {
            throw new IOException("bad option reply magic " + Long.toHexString(magic));
        }
        int option = h.getInt();
        int type = h.getInt();
        int length = h.getInt();
        byte[] data = new byte[length];
        read(length).get(data);
        return new OptionReply(option, type, data);
    }

    static byte[] goData(String export) {
        byte[] n = export.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + n.length + 2).putInt(n.length).put(n).putShort((short) 0).array();
    }

    /** NBD_OPT_GO to {@code export}; returns the export size. */
    long go(String export) throws IOException {
        send(option(Nbd.OPT_GO, goData(export)));
        long size = -1;
        while (true) {
            OptionReply r = optionReply();
            if (r.type() == Nbd.REP_INFO) {
                ByteBuffer d = ByteBuffer.wrap(r.data());
                if (d.getShort() == Nbd.INFO_EXPORT) {
                    size = d.getLong();
                }
            } else if (r.type() == Nbd.REP_ACK) {
                return size;
            } else {
                throw new IOException("GO failed: type " + Integer.toHexString(r.type()) + " " + r.text());
            }
        }
    }

    static ByteBuffer request(int flags, int type, long cookie, long offset, long length) {
        return ByteBuffer.allocate(28).putInt(Nbd.REQUEST_MAGIC).putShort((short) flags).putShort((short) type)
                .putLong(cookie).putLong(offset).putInt((int) length).flip();
    }

    /** A simple reply's error and cookie. */
    record Simple(int error, long cookie) {}

    Simple simpleReply() throws IOException {
        ByteBuffer h = read(16);
        int magic = h.getInt();
        if (magic != Nbd.SIMPLE_REPLY_MAGIC) {
            throw new IOException("expected a simple reply, got magic " + Integer.toHexString(magic));
        }
        return new Simple(h.getInt(), h.getLong());
    }

    @Override
    public void close() throws IOException {
        watchdog.cancel();
        channel.close();
    }
}
