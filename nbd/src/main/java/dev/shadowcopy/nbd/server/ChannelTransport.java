package dev.shadowcopy.nbd.server;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/** A blocking socket channel (Unix domain or TCP): direct buffers go to the kernel without a copy. */
final class ChannelTransport implements Transport {
    private final SocketChannel channel;
    private final boolean tcp;
    private final String peer;

    ChannelTransport(SocketChannel channel, boolean tcp) throws IOException {
        this.channel = channel;
        this.tcp = tcp;
        this.peer = tcp ? String.valueOf(channel.getRemoteAddress()) : "unix socket";
        if (tcp) {
            channel.socket().setTcpNoDelay(true);
        }
    }

    @Override
    public void readFully(ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            if (channel.read(dst) < 0) {
                throw new EOFException("client closed the connection");
            }
        }
    }

    @Override
    public void write(ByteBuffer... srcs) throws IOException {
        long left = 0;
        for (ByteBuffer b : srcs) {
            left += b.remaining();
        }
        while (left > 0) {
            left -= channel.write(srcs);
        }
    }

    @Override
    public boolean isTcp() {
        return tcp;
    }

    @Override
    public boolean isTls() {
        return false;
    }

    @Override
    public Transport startTls(SSLContext context, boolean needClientAuth) throws IOException {
        InetSocketAddress remote = (InetSocketAddress) channel.getRemoteAddress();
        SSLSocket ssl = (SSLSocket) context.getSocketFactory().createSocket(channel.socket(),
                remote.getHostString(), remote.getPort(), true);
        ssl.setUseClientMode(false);
        ssl.setNeedClientAuth(needClientAuth);
        ssl.setEnabledProtocols(new String[] {"TLSv1.3", "TLSv1.2"}); // the protocol document asks for >= 1.2
        ssl.startHandshake();
        return new TlsTransport(ssl, peer);
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
