package dev.shadowcopy.nbd.server;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/** A connection after STARTTLS: JSSE's socket streams (data is copied through heap buffers). */
final class TlsTransport implements Transport {
    private static final int COPY = 64 * 1024;
    private final SSLSocket socket;
    private final InputStream in;
    private final OutputStream out;
    private final String peer;
    private final byte[] readBuffer = new byte[COPY];
    private final byte[] writeBuffer = new byte[COPY];

    TlsTransport(SSLSocket socket, String peer) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
        this.peer = peer + " (TLS " + socket.getSession().getProtocol() + ")";
    }

    @Override
    public void readFully(ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            int n = in.read(readBuffer, 0, Math.min(readBuffer.length, dst.remaining()));
            if (n < 0) {
                throw new EOFException("client closed the connection");
            }
            dst.put(readBuffer, 0, n);
        }
    }

    @Override
    public void write(ByteBuffer... srcs) throws IOException {
        for (ByteBuffer b : srcs) {
            while (b.hasRemaining()) {
                int n = Math.min(writeBuffer.length, b.remaining());
                b.get(writeBuffer, 0, n);
                out.write(writeBuffer, 0, n);
            }
        }
        out.flush();
    }

    @Override
    public boolean isTcp() {
        return true;
    }

    @Override
    public boolean isTls() {
        return true;
    }

    @Override
    public Transport startTls(SSLContext context, boolean needClientAuth) {
        throw new IllegalStateException("TLS is already running");
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
