package dev.shadowcopy.nbd.server;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import javax.net.ssl.SSLContext;

/**
 * The byte stream of one connection. Reads are done by one thread (the session's reader); writes are
 * serialised by the caller. {@link ChannelTransport} moves direct buffers straight to the socket;
 * {@link TlsTransport} runs after STARTTLS.
 */
interface Transport extends Closeable {

    /** Fills {@code dst} completely; throws {@link java.io.EOFException} if the peer closed first. */
    void readFully(ByteBuffer dst) throws IOException;

    /** Writes all of the buffers, in order. */
    void write(ByteBuffer... srcs) throws IOException;

    /** True for TCP (where TLS may be negotiated), false for the Unix socket. */
    boolean isTcp();

    boolean isTls();

    /** Upgrades this connection to TLS (server side); returns the transport to use from now on. */
    Transport startTls(SSLContext context, boolean needClientAuth) throws IOException;

    /** Who is on the other end, for logs. */
    String peer();
}
