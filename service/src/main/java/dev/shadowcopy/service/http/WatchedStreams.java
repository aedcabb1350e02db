package dev.shadowcopy.service.http;

import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;

/** A connection's socket streams, telling the connection when request bytes arrive and answers are written. */
final class WatchedStreams {
    private WatchedStreams() {}

    /** Input that starts the request timeout at the first byte after an idle phase. */
    static InputStream input(InputStream in, Connection c, Duration requestTimeout) {
        return new FilterInputStream(in) {
            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) {
                    c.received(requestTimeout);
                }
                return b;
            }

            @Override
            public int read(byte[] buf, int off, int len) throws IOException {
                int n = super.read(buf, off, len);
                if (n > 0) {
                    c.received(requestTimeout);
                }
                return n;
            }
        };
    }

    /** Output whose every write to the socket must finish within {@code writeTimeout}. */
    static OutputStream output(OutputStream out, Connection c, Duration writeTimeout) {
        return new FilterOutputStream(out) {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] buf, int off, int len) throws IOException {
                c.writing(writeTimeout);
                try {
                    out.write(buf, off, len);
                } finally {
                    c.written();
                }
            }
        };
    }
}
