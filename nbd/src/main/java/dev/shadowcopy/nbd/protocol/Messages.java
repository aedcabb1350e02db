package dev.shadowcopy.nbd.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The byte layout of every NBD message this server reads or writes (big-endian throughout). Decoders check
 * every length against what remains and against the protocol's limits, and fail with an "(expected: …)"
 * message; encoders write into a caller's buffer.
 *
 * <pre>
 * Server greeting:   "NBDMAGIC"(8) "IHAVEOPT"(8) handshake flags(2)
 * Client flags:      flags(4)
 * Option request:    "IHAVEOPT"(8) option(4) length(4) data(length)
 * Option reply:      0x0003e889045565a9(8) option(4) reply type(4) length(4) data(length)
 * EXPORT_NAME reply: size(8) transmission flags(2) [124 zero bytes unless NO_ZEROES]
 * INFO/GO data:      name length(4) name, request count(2), info types(2 each)
 * NBD_REP_INFO:      type(2) then EXPORT: size(8) flags(2) | NAME/DESCRIPTION: string | BLOCK_SIZE: min(4)
 *                    preferred(4) max(4)
 * Meta context data: export name length(4) name, query count(4), per query length(4) query
 * NBD_REP_META_CONTEXT: context id(4) name
 * Request:           0x25609513(4) flags(2) type(2) cookie(8) offset(8) length(4)
 * Simple reply:      0x67446698(4) error(4) cookie(8) [data for a successful read]
 * Structured chunk:  0x668e33ef(4) flags(2) type(2) cookie(8) length(4) payload(length)
 *   OFFSET_DATA:     offset(8) data;   ERROR: error(4) message length(2) message
 *   BLOCK_STATUS:    context id(4) then (extent length(4) status flags(4)) per extent
 * </pre>
 */
public final class Messages {
    private Messages() {}

    /** A transmission-phase request header. */
    public record Request(int flags, int type, long cookie, long offset, long length) {}

    /** Invalid option data: answered with NBD_REP_ERR_INVALID, negotiation goes on. */
    public static final class InvalidOption extends Exception {
        public InvalidOption(String message) {
            super(message);
        }
    }

    public static void greeting(ByteBuffer out) {
        out.putLong(Nbd.NBDMAGIC).putLong(Nbd.IHAVEOPT).putShort((short) (Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES));
    }

    /** Writes an option reply header followed by {@code data} (flipped, may be null). */
    public static void optionReply(ByteBuffer out, int option, int type, ByteBuffer data) {
        int length = data == null ? 0 : data.remaining();
        out.putLong(Nbd.OPTION_REPLY_MAGIC).putInt(option).putInt(type).putInt(length);
        if (data != null) {
            out.put(data);
        }
    }

    /** Decodes a request header; the buffer holds exactly {@link Nbd#REQUEST_HEADER} bytes. */
    public static Request request(ByteBuffer in) throws ProtocolException {
        int magic = in.getInt();
        if (magic != Nbd.REQUEST_MAGIC) {
            throw new ProtocolException(String.format("bad request magic 0x%08x (expected: 0x%08x)", magic,
                    Nbd.REQUEST_MAGIC));
        }
        int flags = Short.toUnsignedInt(in.getShort());
        int type = Short.toUnsignedInt(in.getShort());
        long cookie = in.getLong();
        long offset = in.getLong();
        long length = Integer.toUnsignedLong(in.getInt());
        return new Request(flags, type, cookie, offset, length);
    }

    public static void simpleReply(ByteBuffer out, int error, long cookie) {
        out.putInt(Nbd.SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
    }

    public static void chunkHeader(ByteBuffer out, int flags, int type, long cookie, int length) {
        out.putInt(Nbd.STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                .putInt(length);
    }

    /** A final structured ERROR chunk carrying {@code error} and a human-readable message. */
    public static void errorChunk(ByteBuffer out, long cookie, int error, String message) {
        byte[] text = truncateUtf8(message, 1024);
        chunkHeader(out, Nbd.REPLY_FLAG_DONE, Nbd.REPLY_TYPE_ERROR, cookie, 6 + text.length);
        out.putInt(error).putShort((short) text.length).put(text);
    }

    private static byte[] truncateUtf8(String s, int max) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length <= max) {
            return b;
        }
        int n = max;
        while (n > 0 && (b[n] & 0xC0) == 0x80) {
            n--; // do not cut a character in two
        }
        return java.util.Arrays.copyOf(b, n);
    }

    // ---------------------------------------------------------------- option data decoding

    public static int u16(ByteBuffer in, String what) throws InvalidOption {
        if (in.remaining() < 2) {
            throw new InvalidOption(what + " is missing (expected: 2 more bytes, " + in.remaining() + " left)");
        }
        return Short.toUnsignedInt(in.getShort());
    }

    public static long u32(ByteBuffer in, String what) throws InvalidOption {
        if (in.remaining() < 4) {
            throw new InvalidOption(what + " is missing (expected: 4 more bytes, " + in.remaining() + " left)");
        }
        return Integer.toUnsignedLong(in.getInt());
    }

    /** A string of {@code length} bytes: valid UTF-8, no NUL, at most {@link Nbd#MAX_STRING} bytes. */
    public static String string(ByteBuffer in, long length, String what) throws InvalidOption {
        if (length > Nbd.MAX_STRING) {
            throw new InvalidOption(what + " is " + length + " bytes (expected: at most " + Nbd.MAX_STRING + ")");
        }
        if (length > in.remaining()) {
            throw new InvalidOption(what + " claims " + length + " bytes (expected: at most the " + in.remaining()
                    + " bytes left in the option)");
        }
        ByteBuffer slice = in.slice(in.position(), (int) length);
        in.position(in.position() + (int) length);
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
            if (s.indexOf('\0') >= 0) {
                throw new InvalidOption(what + " contains NUL (expected: a string without NUL)");
            }
            return s;
        } catch (CharacterCodingException e) {
            throw new InvalidOption(what + " is not valid UTF-8");
        }
    }

    /** A u32 length followed by a string. */
    public static String lengthPrefixedString(ByteBuffer in, String what) throws InvalidOption {
        return string(in, u32(in, what + " length"), what);
    }

    public static void requireEnd(ByteBuffer in, String option) throws InvalidOption {
        if (in.hasRemaining()) {
            throw new InvalidOption(option + " has " + in.remaining() + " unexpected trailing bytes");
        }
    }

    /** An INFO/GO request: export name and the info types asked for. */
    public record InfoRequest(String export, int[] infos) {}

    public static InfoRequest infoRequest(ByteBuffer in) throws InvalidOption {
        String name = lengthPrefixedString(in, "export name");
        int n = u16(in, "number of information requests");
        if ((long) n * 2 != in.remaining()) {
            throw new InvalidOption("information request count " + n + " does not match the " + in.remaining()
                    + " bytes left (expected: 2 bytes per request)");
        }
        int[] infos = new int[n];
        for (int i = 0; i < n; i++) {
            infos[i] = u16(in, "information request");
        }
        return new InfoRequest(name, infos);
    }

    /** A LIST/SET_META_CONTEXT request. */
    public record MetaRequest(String export, java.util.List<String> queries) {}

    public static MetaRequest metaRequest(ByteBuffer in) throws InvalidOption {
        String name = lengthPrefixedString(in, "export name");
        long n = u32(in, "number of queries");
        if (n * 4 > in.remaining()) {
            throw new InvalidOption("query count " + n + " exceeds the data left (expected: at most "
                    + in.remaining() / 4 + ")");
        }
        java.util.List<String> queries = new java.util.ArrayList<>();
        for (long i = 0; i < n; i++) {
            queries.add(lengthPrefixedString(in, "query"));
        }
        requireEnd(in, "meta context request");
        return new MetaRequest(name, queries);
    }

    // ---------------------------------------------------------------- option reply payloads

    public static ByteBuffer serverEntry(String name, String description) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] d = description == null ? new byte[0] : description.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + n.length + d.length).putInt(n.length).put(n).put(d).flip();
    }

    public static ByteBuffer infoExport(long size, int transmissionFlags) {
        return ByteBuffer.allocate(12).putShort((short) Nbd.INFO_EXPORT).putLong(size)
                .putShort((short) transmissionFlags).flip();
    }

    public static ByteBuffer infoString(int type, String value) {
        byte[] v = value.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(2 + v.length).putShort((short) type).put(v).flip();
    }

    public static ByteBuffer infoBlockSize(int min, int preferred, int max) {
        return ByteBuffer.allocate(14).putShort((short) Nbd.INFO_BLOCK_SIZE).putInt(min).putInt(preferred).putInt(max)
                .flip();
    }

    public static ByteBuffer metaContext(int id, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + n.length).putInt(id).put(n).flip();
    }

    public static ByteBuffer message(String text) {
        return ByteBuffer.wrap(truncateUtf8(text, 1024));
    }
}
