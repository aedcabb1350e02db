package dev.shadowcopy.nbd.server;

import dev.shadowcopy.nbd.export.Export;
import dev.shadowcopy.nbd.export.ExportRegistry;
import dev.shadowcopy.nbd.protocol.Messages;
import dev.shadowcopy.nbd.protocol.Nbd;
import dev.shadowcopy.nbd.protocol.ProtocolException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SSLContext;

/**
 * The handshake phase of one connection (fixed newstyle): greeting, client flags, then option haggling until
 * the client chooses an export (EXPORT_NAME or GO) or leaves (ABORT, or closing).
 *
 * <p>States: {@code GREETED → OPTIONS → (TRANSMISSION | CLOSED)}. Every option's data is read completely
 * before it is interpreted; bad data gets NBD_REP_ERR_INVALID and haggling goes on; a broken frame (bad magic,
 * an option too large to skip) ends the connection. At most {@value #MAX_OPTIONS} options per connection.
 */
final class Negotiation {
    private static final int MAX_OPTIONS = 1000;
    private static final int SKIPPABLE = 1 << 20;

    /** What the client chose: the export and the transmission features it negotiated. */
    record Outcome(Transport transport, Export export, boolean structured, List<String> metaContexts,
                   boolean noZeroes) {}

    private Transport transport;
    private final ExportRegistry registry;
    private final TlsMode tlsMode;
    private final SSLContext sslContext;
    private final boolean verifyClients;
    private final String refusal;
    private final ByteBuffer header = ByteBuffer.allocate(16);
    private final ByteBuffer out = ByteBuffer.allocate(64 * 1024);
    private boolean structured;
    private boolean noZeroes;
    private String metaExport;
    private List<String> metaContexts = List.of();

    /**
     * @param verifyClients TLS clients must present a certificate the context trusts
     * @param refusal       if not null, the peer may not use the server: every option but ABORT is answered
     *                      NBD_REP_ERR_POLICY with this message (EXPORT_NAME, which cannot carry an error,
     *                      ends the connection)
     */
    Negotiation(Transport transport, ExportRegistry registry, TlsMode tlsMode, SSLContext sslContext,
                boolean verifyClients, String refusal) {
        this.transport = transport;
        this.registry = registry;
        this.tlsMode = transport.isTcp() ? tlsMode : TlsMode.OFF;
        this.sslContext = sslContext;
        this.verifyClients = verifyClients;
        this.refusal = refusal;
    }

    /** Runs the handshake; returns null if the client left without choosing an export. */
    Outcome run() throws IOException {
        out.clear();
        Messages.greeting(out);
        send();
        ByteBuffer flags = ByteBuffer.allocate(4);
        transport.readFully(flags);
        int clientFlags = flags.flip().getInt();
        if ((clientFlags & ~(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES)) != 0) {
            throw new ProtocolException(String.format("client set unknown flags 0x%08x (expected: only fixed "
                    + "newstyle and no zeroes)", clientFlags));
        }
        noZeroes = (clientFlags & Nbd.FLAG_C_NO_ZEROES) != 0;
        for (int count = 0; count < MAX_OPTIONS; count++) {
            header.clear();
            transport.readFully(header);
            header.flip();
            long magic = header.getLong();
            if (magic != Nbd.IHAVEOPT) {
                throw new ProtocolException(String.format("bad option magic 0x%016x (expected: 0x%016x)", magic,
                        Nbd.IHAVEOPT));
            }
            int option = header.getInt();
            long length = Integer.toUnsignedLong(header.getInt());
            if (length > Nbd.MAX_OPTION_DATA) {
                if (length > SKIPPABLE || option == Nbd.OPT_EXPORT_NAME) {
                    throw new ProtocolException(Nbd.optionName(option) + " carries " + length + " bytes (expected: "
                            + "at most " + Nbd.MAX_OPTION_DATA + ")");
                }
                skip(length);
                error(option, Nbd.REP_ERR_TOO_BIG, Nbd.optionName(option) + " data is too large (" + length
                        + " bytes, at most " + Nbd.MAX_OPTION_DATA + ")");
                continue;
            }
            ByteBuffer data = ByteBuffer.allocate((int) length);
            transport.readFully(data);
            data.flip();
            Outcome outcome = option(option, data);
            if (outcome != null) {
                return outcome.export() == null ? null : outcome;
            }
        }
        throw new ProtocolException("more than " + MAX_OPTIONS + " options without choosing an export");
    }

    private static final Outcome ABORTED = new Outcome(null, null, false, List.of(), false);

    /** Handles one option; returns an outcome when negotiation ends. */
    private Outcome option(int option, ByteBuffer data) throws IOException {
        if (refusal != null && option != Nbd.OPT_ABORT) {
            if (option == Nbd.OPT_EXPORT_NAME) {
                throw new ProtocolException("refused: " + refusal);
            }
            error(option, Nbd.REP_ERR_POLICY, refusal);
            return null;
        }
        if (tlsMode == TlsMode.REQUIRED && !transport.isTls() && option != Nbd.OPT_STARTTLS
                && option != Nbd.OPT_ABORT) {
            if (option == Nbd.OPT_EXPORT_NAME) {
                throw new ProtocolException("NBD_OPT_EXPORT_NAME before TLS on a server that requires TLS");
            }
            error(option, Nbd.REP_ERR_TLS_REQD, "this server requires TLS: send NBD_OPT_STARTTLS first");
            return null;
        }
        try {
            switch (option) {
                case Nbd.OPT_EXPORT_NAME -> {
                    return exportName(data);
                }
                case Nbd.OPT_ABORT -> {
                    reply(option, Nbd.REP_ACK, null);
                    return ABORTED;
                }
                case Nbd.OPT_LIST -> list(data);
                case Nbd.OPT_STARTTLS -> startTls(data);
                case Nbd.OPT_STRUCTURED_REPLY -> {
                    Messages.requireEnd(data, "NBD_OPT_STRUCTURED_REPLY");
                    structured = true;
                    reply(option, Nbd.REP_ACK, null);
                }
                case Nbd.OPT_INFO, Nbd.OPT_GO -> {
                    return infoOrGo(option, data);
                }
                case Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT -> metaContext(option, data);
                default -> error(option, Nbd.REP_ERR_UNSUP, Nbd.optionName(option) + " is not supported");
            }
        } catch (Messages.InvalidOption e) {
            error(option, Nbd.REP_ERR_INVALID, e.getMessage());
        } catch (dev.shadowcopy.nbd.export.ExportUnavailableException e) {
            if (option == Nbd.OPT_EXPORT_NAME) {
                throw e; // this option cannot carry an error: the connection ends
            }
            error(option, Nbd.REP_ERR_POLICY, e.getMessage());
        }
        return null;
    }

    private Outcome exportName(ByteBuffer data) throws IOException {
        String name;
        try {
            name = Messages.string(data, data.remaining(), "export name");
        } catch (Messages.InvalidOption e) {
            throw new ProtocolException("NBD_OPT_EXPORT_NAME: " + e.getMessage());
        }
        Export export = registry.open(name);
        if (export == null) {
            throw new ProtocolException("no export named '" + name + "' (NBD_OPT_EXPORT_NAME cannot report errors)");
        }
        ByteBuffer reply = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
        reply.putLong(export.device().size()).putShort((short) Transmission.flags(export, structured));
        transport.write(reply.clear());
        return outcome(export);
    }

    private void list(ByteBuffer data) throws IOException, Messages.InvalidOption {
        Messages.requireEnd(data, "NBD_OPT_LIST");
        for (ExportRegistry.Listing l : registry.list()) {
            reply(Nbd.OPT_LIST, Nbd.REP_SERVER, Messages.serverEntry(l.name(), l.description()));
        }
        reply(Nbd.OPT_LIST, Nbd.REP_ACK, null);
    }

    private void startTls(ByteBuffer data) throws IOException, Messages.InvalidOption {
        Messages.requireEnd(data, "NBD_OPT_STARTTLS");
        if (transport.isTls()) {
            error(Nbd.OPT_STARTTLS, Nbd.REP_ERR_INVALID, "TLS is already running");
        } else if (tlsMode == TlsMode.OFF || sslContext == null) {
            error(Nbd.OPT_STARTTLS, Nbd.REP_ERR_POLICY, transport.isTcp() ? "TLS is not configured on this server"
                    : "the Unix socket does not use TLS");
        } else {
            reply(Nbd.OPT_STARTTLS, Nbd.REP_ACK, null);
            transport = transport.startTls(sslContext, verifyClients);
            // negotiated state before TLS cannot be trusted: start over
            structured = false;
            metaExport = null;
            metaContexts = List.of();
        }
    }

    private Outcome infoOrGo(int option, ByteBuffer data) throws IOException, Messages.InvalidOption {
        Messages.InfoRequest req = Messages.infoRequest(data);
        Export export = registry.open(req.export());
        if (export == null) {
            error(option, Nbd.REP_ERR_UNKNOWN, "no export named '" + req.export() + "'");
            return null;
        }
        boolean keep = false;
        try {
            reply(option, Nbd.REP_INFO, Messages.infoExport(export.device().size(),
                    Transmission.flags(export, structured)));
            for (int info : req.infos()) {
                switch (info) {
                    case Nbd.INFO_NAME -> reply(option, Nbd.REP_INFO, Messages.infoString(Nbd.INFO_NAME, export.name()));
                    case Nbd.INFO_DESCRIPTION -> reply(option, Nbd.REP_INFO,
                            Messages.infoString(Nbd.INFO_DESCRIPTION, export.description()));
                    case Nbd.INFO_BLOCK_SIZE -> reply(option, Nbd.REP_INFO, Messages.infoBlockSize(1,
                            Math.min(Nbd.MAX_REQUEST, Math.max(4096, export.device().preferredBlockSize())),
                            Nbd.MAX_REQUEST));
                    default -> { } // unknown requests are ignored, as the protocol says
                }
            }
            reply(option, Nbd.REP_ACK, null);
            if (option == Nbd.OPT_GO) {
                keep = true;
                return outcome(export);
            }
            return null;
        } finally {
            if (!keep) {
                export.close();
            }
        }
    }

    private Outcome outcome(Export export) {
        List<String> contexts = export.name().equals(metaExport) ? metaContexts : List.of();
        return new Outcome(transport, export, structured, contexts, noZeroes);
    }

    private void metaContext(int option, ByteBuffer data) throws IOException, Messages.InvalidOption {
        if (!structured) {
            error(option, Nbd.REP_ERR_INVALID, Nbd.optionName(option) + " needs NBD_OPT_STRUCTURED_REPLY first");
            return;
        }
        Messages.MetaRequest req = Messages.metaRequest(data);
        Export export = registry.open(req.export());
        if (export == null) {
            error(option, Nbd.REP_ERR_UNKNOWN, "no export named '" + req.export() + "'");
            return;
        }
        try {
            Set<String> selected = new LinkedHashSet<>();
            if (req.queries().isEmpty() && option == Nbd.OPT_LIST_META_CONTEXT) {
                selected.add(Nbd.BASE_ALLOCATION);
                export.dirtyBitmaps().forEach(b -> selected.add(Nbd.DIRTY_BITMAP_PREFIX + b));
            }
            for (String q : req.queries()) {
                resolve(q, export, selected);
            }
            List<String> chosen = new ArrayList<>(selected);
            int id = 1;
            for (String name : chosen) {
                reply(option, Nbd.REP_META_CONTEXT, Messages.metaContext(option == Nbd.OPT_SET_META_CONTEXT ? id++ : 0,
                        name));
            }
            reply(option, Nbd.REP_ACK, null);
            if (option == Nbd.OPT_SET_META_CONTEXT) {
                metaExport = export.name();
                metaContexts = chosen;
            }
        } finally {
            export.close();
        }
    }

    /** Adds what one query selects: {@code base:}, {@code base:allocation}, {@code qemu:dirty-bitmap:[name]}. */
    private static void resolve(String query, Export export, Set<String> selected) throws Messages.InvalidOption {
        if (query.indexOf(':') <= 0) {
            throw new Messages.InvalidOption("query '" + query + "' has no namespace (expected: e.g. base:allocation)");
        }
        if (query.equals("base:") || query.equals(Nbd.BASE_ALLOCATION)) {
            selected.add(Nbd.BASE_ALLOCATION);
        } else if (query.equals("qemu:") || query.equals(Nbd.DIRTY_BITMAP_PREFIX)) {
            export.dirtyBitmaps().forEach(b -> selected.add(Nbd.DIRTY_BITMAP_PREFIX + b));
        } else if (query.startsWith(Nbd.DIRTY_BITMAP_PREFIX)) {
            String bitmap = query.substring(Nbd.DIRTY_BITMAP_PREFIX.length());
            if (export.hasDirtyBitmap(bitmap)) {
                selected.add(query);
            }
        }
        // other namespaces select nothing: not an error
    }

    private void skip(long length) throws IOException {
        ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
        while (length > 0) {
            sink.clear().limit((int) Math.min(sink.capacity(), length));
            transport.readFully(sink);
            length -= sink.limit();
        }
    }

    private void reply(int option, int type, ByteBuffer data) throws IOException {
        out.clear();
        Messages.optionReply(out, option, type, data);
        send();
    }

    private void error(int option, int type, String message) throws IOException {
        reply(option, type, Messages.message(message));
    }

    private void send() throws IOException {
        out.flip();
        transport.write(out);
    }
}
