package dev.shadowcopy.nbd.server;

import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.device.OutOfRangeException;
import dev.shadowcopy.device.ReadOnlyException;
import dev.shadowcopy.nbd.export.Export;
import dev.shadowcopy.nbd.protocol.Messages;
import dev.shadowcopy.nbd.protocol.Nbd;
import dev.shadowcopy.nbd.protocol.ProtocolException;
import dev.shadowcopy.platform.NoSpaceException;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The transmission phase of one connection, served by a small team of threads in the leader/follower
 * pattern (as nbdkit's parallel thread model does): the thread holding {@code readLock} reads one request
 * (header and write payload), lets go of the lock, and serves that request itself while the next thread reads
 * the next one. So a lone request costs one wake-up (the kernel waking the reader) and no hand-off between
 * threads, and pipelined requests run concurrently with replies going out as they complete — in any order,
 * which the protocol allows (cookies match them up). At most {@code threads} requests are in progress; beyond
 * that nobody reads, which pushes back on the client through the socket without buffering unbounded data. A
 * slow or stalled client only stalls its own connection.
 *
 * <p>Reply writes are serialised on {@code writeLock}; each reply is written with one gathering write. The
 * connection ends (and the socket is closed) only after every thread has finished the request it holds.
 */
final class Transmission {
    private static final System.Logger LOG = System.getLogger(Transmission.class.getName());
    /** Larger write requests are read and discarded (then refused) rather than ending the connection. */
    private static final long SKIPPABLE_WRITE = 64L << 20;
    private static final int MAX_EXTENTS = 64 * 1024;
    private static final long MAX_EXTENT = 0xFFFF_F000L; // u32, kept 4 KiB-aligned

    private final Transport transport;
    private final Export export;
    private final BlockDevice device;
    private final boolean structured;
    private final List<String> contexts;
    private final BufferPool buffers;
    private final int threads;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ByteBuffer header = ByteBuffer.allocateDirect(Nbd.REQUEST_HEADER); // guarded by readLock
    private final Object writeLock = new Object();
    private final ThreadLocal<ByteBuffer> headers = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(64));
    /** Set once the session is over (disconnect, EOF, protocol error): nobody reads again. */
    private volatile boolean ended;
    private volatile boolean shuttingDown;

    Transmission(Negotiation.Outcome outcome, BufferPool buffers, int threads) {
        this.transport = outcome.transport();
        this.export = outcome.export();
        this.device = export.device();
        this.structured = outcome.structured();
        this.contexts = outcome.metaContexts();
        this.buffers = buffers;
        this.threads = threads;
    }

    /** Transmission flags advertised for an export: only what this server really does. */
    static int flags(Export export, boolean structured) {
        int f = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_SEND_CACHE
                // flush is an fdatasync of the whole backing, visible to every connection: multi-conn is safe
                | Nbd.FLAG_CAN_MULTI_CONN;
        if (export.device().isReadOnly()) {
            f |= Nbd.FLAG_READ_ONLY;
        } else {
            f |= Nbd.FLAG_SEND_TRIM | Nbd.FLAG_SEND_WRITE_ZEROES | Nbd.FLAG_SEND_FAST_ZERO;
        }
        if (structured) {
            f |= Nbd.FLAG_SEND_DF; // reads are always one chunk: "do not fragment" holds trivially
        }
        return f;
    }

    /**
     * Serves requests until the client disconnects, on the calling thread and {@code threads - 1} more; always
     * releases the export and the socket, after the requests in progress are answered (bounded wait).
     */
    void run() {
        List<Thread> team = new ArrayList<>();
        for (int i = 1; i < threads; i++) {
            Thread t = new Thread(this::serve, "nbd-" + export.name() + "-" + i);
            t.setDaemon(true);
            t.start();
            team.add(t);
        }
        try {
            serve();
        } finally {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (Thread t : team) {
                try {
                    t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            export.close();
            try {
                transport.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "nbd close: {0}", e.toString());
            }
        }
    }

    /** One thread of the team: read a request (holding the read lock), serve it, repeat. */
    private void serve() {
        while (!ended) {
            Messages.Request r;
            ByteBuffer payload = null;
            readLock.lock();
            try {
                if (ended) {
                    return;
                }
                r = readRequest();
                if (r == null) {
                    continue; // refused in place (an oversized write): read the next one
                }
                if (r.type() == Nbd.CMD_DISC) {
                    ended = true; // soft disconnect: finish what is in progress, then close
                    return;
                }
                if (r.type() == Nbd.CMD_WRITE) {
                    payload = buffers.take((int) r.length());
                    try {
                        transport.readFully(payload);
                    } catch (IOException | RuntimeException e) {
                        buffers.give(payload);
                        throw e;
                    }
                    payload.flip();
                }
            } catch (EOFException e) {
                end("nbd {0}: client left without NBD_CMD_DISC", System.Logger.Level.DEBUG, null);
                return;
            } catch (ProtocolException e) {
                end("nbd {0}: dropping the connection: {1}", System.Logger.Level.WARNING, e.getMessage());
                return;
            } catch (IOException e) {
                end("nbd {0}: connection ended: {1}", System.Logger.Level.DEBUG, e.toString());
                return;
            } finally {
                readLock.unlock();
            }
            try {
                handle(r, payload);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "nbd {0}: reply failed: {1}", transport.peer(), e.toString());
                ended = true;
                closeQuietly(); // whoever is reading sees it and the session ends
            } finally {
                if (payload != null) {
                    buffers.give(payload);
                }
            }
        }
    }

    private void end(String message, System.Logger.Level level, String detail) {
        ended = true;
        LOG.log(level, message, transport.peer(), detail);
    }

    /** Reads the next request header; refuses an oversized write in place (returns null). Holds readLock. */
    private Messages.Request readRequest() throws IOException {
        header.clear();
        transport.readFully(header);
        header.flip();
        Messages.Request r = Messages.request(header);
        if (r.type() == Nbd.CMD_WRITE && r.length() > Nbd.MAX_REQUEST) {
            if (r.length() > SKIPPABLE_WRITE) {
                throw new ProtocolException("write of " + r.length() + " bytes (expected: at most "
                        + Nbd.MAX_REQUEST + ")");
            }
            skip(r.length());
            reply(r, Nbd.EINVAL, "write of " + r.length() + " bytes exceeds the maximum block size of "
                    + Nbd.MAX_REQUEST, null);
            return null;
        }
        return r;
    }

    private void handle(Messages.Request r, ByteBuffer payload) throws IOException {
        if (shuttingDown) {
            reply(r, Nbd.ESHUTDOWN, "the server is shutting down", null);
            return;
        }
        String invalid = validate(r);
        if (invalid != null) {
            reply(r, errorFor(r, invalid), invalid, null);
            return;
        }
        boolean fua = (r.flags() & Nbd.CMD_FLAG_FUA) != 0;
        try {
            switch (r.type()) {
                case Nbd.CMD_READ -> read(r);
                case Nbd.CMD_WRITE -> {
                    device.write(r.offset(), MemorySegment.ofBuffer(payload), fua);
                    reply(r, 0, null, null);
                }
                case Nbd.CMD_FLUSH -> {
                    device.flush();
                    reply(r, 0, null, null);
                }
                case Nbd.CMD_TRIM -> {
                    device.trim(r.offset(), r.length(), fua);
                    reply(r, 0, null, null);
                }
                case Nbd.CMD_WRITE_ZEROES -> {
                    device.writeZeroes(r.offset(), r.length(), (r.flags() & Nbd.CMD_FLAG_NO_HOLE) == 0, fua);
                    reply(r, 0, null, null);
                }
                case Nbd.CMD_CACHE -> {
                    cache(r);
                    reply(r, 0, null, null);
                }
                case Nbd.CMD_BLOCK_STATUS -> blockStatus(r);
                default -> reply(r, Nbd.EINVAL, Nbd.commandName(r.type()) + " is not supported", null);
            }
        } catch (ReadOnlyException e) {
            reply(r, Nbd.EPERM, e.getMessage(), null);
        } catch (OutOfRangeException e) {
            reply(r, errorFor(r, e.getMessage()), e.getMessage(), null);
        } catch (NoSpaceException e) {
            reply(r, Nbd.ENOSPC, e.getMessage(), null);
        } catch (IOException e) {
            if (isPeerFailure(e)) {
                throw e;
            }
            LOG.log(System.Logger.Level.WARNING, "nbd {0}: {1} at {2} on {3} failed: {4}", transport.peer(),
                    Nbd.commandName(r.type()), r.offset(), export.name(), e.getMessage());
            reply(r, Nbd.EIO, e.getMessage(), null);
        }
    }

    /** Checks flags and range; returns what is wrong, or null. */
    private String validate(Messages.Request r) {
        int allowed = switch (r.type()) {
            case Nbd.CMD_READ -> structured ? Nbd.CMD_FLAG_DF : 0;
            case Nbd.CMD_WRITE, Nbd.CMD_TRIM -> Nbd.CMD_FLAG_FUA;
            case Nbd.CMD_WRITE_ZEROES -> Nbd.CMD_FLAG_FUA | Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FAST_ZERO;
            case Nbd.CMD_BLOCK_STATUS -> Nbd.CMD_FLAG_REQ_ONE;
            default -> 0;
        };
        if ((r.flags() & ~allowed) != 0) {
            return String.format("flags 0x%x are not valid for %s (expected: a subset of 0x%x)", r.flags(),
                    Nbd.commandName(r.type()), allowed);
        }
        if (r.type() == Nbd.CMD_FLUSH) {
            return null;
        }
        long size = device.size();
        if (r.offset() < 0 || r.offset() > size || r.length() > size - r.offset()) {
            return "request at offset " + Long.toUnsignedString(r.offset()) + " length " + r.length()
                    + " is beyond the end of " + export.name() + " (size " + size + " bytes)";
        }
        if ((r.type() == Nbd.CMD_READ) && r.length() > Nbd.MAX_REQUEST) {
            return "read of " + r.length() + " bytes (expected: at most " + Nbd.MAX_REQUEST + ")";
        }
        if (r.type() == Nbd.CMD_BLOCK_STATUS && contexts.isEmpty()) {
            return "NBD_CMD_BLOCK_STATUS without a metadata context (select one with NBD_OPT_SET_META_CONTEXT)";
        }
        if (device.isReadOnly() && (r.type() == Nbd.CMD_WRITE || r.type() == Nbd.CMD_TRIM
                || r.type() == Nbd.CMD_WRITE_ZEROES)) {
            return "read-only";
        }
        return null;
    }

    /** EPERM for writes to read-only exports, ENOSPC for writes past the end, EINVAL otherwise. */
    private int errorFor(Messages.Request r, String problem) {
        boolean writing = r.type() == Nbd.CMD_WRITE || r.type() == Nbd.CMD_TRIM || r.type() == Nbd.CMD_WRITE_ZEROES;
        if (problem.equals("read-only")) {
            return Nbd.EPERM;
        }
        return writing && problem.contains("beyond the end") ? Nbd.ENOSPC : Nbd.EINVAL;
    }

    private void read(Messages.Request r) throws IOException {
        ByteBuffer data = buffers.take((int) r.length());
        try {
            device.read(r.offset(), MemorySegment.ofBuffer(data));
            reply(r, 0, null, data);
        } finally {
            buffers.give(data);
        }
    }

    /** NBD_CMD_CACHE: reads the range (into the page cache) in pieces, discarding the data. */
    private void cache(Messages.Request r) throws IOException {
        long done = 0;
        while (done < r.length()) {
            int n = (int) Math.min(Nbd.MAX_REQUEST, r.length() - done);
            ByteBuffer b = buffers.take(n);
            try {
                device.read(r.offset() + done, MemorySegment.ofBuffer(b));
            } finally {
                buffers.give(b);
            }
            done += n;
        }
    }

    private void blockStatus(Messages.Request r) throws IOException {
        boolean one = (r.flags() & Nbd.CMD_FLAG_REQ_ONE) != 0;
        ByteBuffer[] chunks = new ByteBuffer[contexts.size()];
        for (int i = 0; i < contexts.size(); i++) {
            String context = contexts.get(i);
            ExtentList extents = new ExtentList(one ? 1 : MAX_EXTENTS);
            if (context.equals(Nbd.BASE_ALLOCATION)) {
                device.mapAllocation(r.offset(), r.length(), extents);
            } else {
                export.mapDirty(context.substring(Nbd.DIRTY_BITMAP_PREFIX.length()), r.offset(), r.length(), extents);
            }
            if (extents.count == 0) {
                extents.extent(r.offset(), Math.max(1, r.length()), 0); // never an empty reply
            }
            ByteBuffer chunk = ByteBuffer.allocate(20 + 4 + 8 * extents.count);
            Messages.chunkHeader(chunk, i == contexts.size() - 1 ? Nbd.REPLY_FLAG_DONE : 0,
                    Nbd.REPLY_TYPE_BLOCK_STATUS, r.cookie(), 4 + 8 * extents.count);
            chunk.putInt(i + 1);
            for (int e = 0; e < extents.count; e++) {
                chunk.putInt((int) extents.lengths[e]).putInt(extents.flags[e]);
            }
            chunks[i] = chunk.flip();
        }
        synchronized (writeLock) {
            transport.write(chunks);
        }
    }

    /** Collects extents, split to fit 32-bit lengths, up to a count. */
    private static final class ExtentList implements BlockDevice.ExtentVisitor {
        final long[] lengths;
        final int[] flags;
        int count;

        ExtentList(int max) {
            lengths = new long[max];
            flags = new int[max];
        }

        @Override
        public boolean extent(long offset, long length, int f) {
            while (length > 0 && count < lengths.length) {
                long n = Math.min(length, MAX_EXTENT);
                if (count > 0 && flags[count - 1] == f && lengths[count - 1] + n <= MAX_EXTENT) {
                    lengths[count - 1] += n;
                } else {
                    lengths[count] = n;
                    flags[count] = f;
                    count++;
                }
                length -= n;
            }
            return count < lengths.length;
        }
    }

    /**
     * Writes the reply to {@code r}: success (with {@code data} for a read) or an error with a message. Uses a
     * structured reply where the protocol asks for one (reads and errors once negotiated).
     */
    private void reply(Messages.Request r, int error, String message, ByteBuffer data)
            throws IOException {
        ByteBuffer h = headers.get().clear();
        if (error != 0 && structured) {
            ByteBuffer e = ByteBuffer.allocate(26 + 1024 * 4);
            Messages.errorChunk(e, r.cookie(), error, message == null ? "error" : message);
            synchronized (writeLock) {
                transport.write(e.flip());
            }
            return;
        }
        if (r.type() == Nbd.CMD_READ && structured) {
            Messages.chunkHeader(h, Nbd.REPLY_FLAG_DONE, Nbd.REPLY_TYPE_OFFSET_DATA, r.cookie(),
                    8 + data.remaining());
            h.putLong(r.offset());
        } else {
            Messages.simpleReply(h, error, r.cookie());
        }
        h.flip();
        synchronized (writeLock) {
            if (data != null && error == 0) {
                transport.write(h, data);
            } else {
                transport.write(h);
            }
        }
    }

    private void skip(long length) throws IOException {
        ByteBuffer sink = buffers.take(1 << 20);
        try {
            while (length > 0) {
                sink.clear().limit((int) Math.min(sink.capacity(), length));
                transport.readFully(sink);
                length -= sink.limit();
            }
        } finally {
            buffers.give(sink);
        }
    }

    private static boolean isPeerFailure(IOException e) {
        return e instanceof java.nio.channels.ClosedChannelException
                || (e.getMessage() != null && (e.getMessage().contains("Broken pipe")
                || e.getMessage().contains("Connection reset")));
    }

    /** Server shutdown: new requests get ESHUTDOWN; requests in flight finish. */
    void shutdown() {
        shuttingDown = true;
    }

    void closeQuietly() {
        try {
            transport.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "nbd close: {0}", e.toString());
        }
    }
}
