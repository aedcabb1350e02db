package dev.shadowcopy.provider.store;

import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.Storage;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The frame and the common sections of an engine checkpoint (file {@code checkpoint}, published atomically
 * with {@link Storage#publish}); each layout's checkpoint class says which sections follow in which order.
 * Little-endian:
 *
 * <pre>
 * Header, 64 bytes:
 *   0  8  magic, one per layout: "SCCHKPT1" copy-on-write ({@link Formats#COW_CHECKPOINT_MAGIC}), "SCROWCP1"
 *         redirect-on-write ({@link Formats#ROW_CHECKPOINT_MAGIC}); the other layouts keep no checkpoint
 *   8  4  format version ({@link Formats#CHECKPOINT_VERSION}: 1)
 *  12  4  header length (64)
 *  16 16  volume UUID
 *  32  8  next journal generation (replay starts there)
 *  40  4  current epoch
 *  44  4  tracking-since epoch
 *  48  8  chunk count
 *  56  4  flags: bit 0 = written at a clean close
 *  60  4  CRC32C of bytes 0..59
 * Body: sections, then CRC32C of the body (4 bytes). Sections:
 *   shadows:  count(4), per copy uuid(16) epoch(4) createdMillis(8) flags(4; bit 0 persistent)
 *   runs:     count(8), per run chunks(8) value(4); runs cover all chunks in order
 *   versions: count(8), per record chunk(8) from(4) to(4) location(4)
 *   uuid?:    1 byte (0 = none), then uuid(16)
 * </pre>
 * Any check failing, or a section running past the end, is reported as {@link CorruptMetadataException}
 * naming the file.
 */
public final class CheckpointFile {
    public static final String FILE_NAME = "checkpoint";
    static final int VERSION = Formats.CHECKPOINT_VERSION;
    static final int HEADER_SIZE = 64;

    private CheckpointFile() {}

    /** A shadow copy as stored in metadata. */
    public record Shadow(UUID id, int epoch, long createdMillis, boolean persistent) {}

    /** The header fields. */
    public record Header(long nextGeneration, int epoch, int trackingSince, long chunks, boolean cleanClose) {}

    /** Builds a body. */
    public static final class Writer {
        private ByteBuffer buf = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);

        private void ensure(int n) {
            if (buf.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n))
                        .order(ByteOrder.LITTLE_ENDIAN);
                buf.flip();
                bigger.put(buf);
                buf = bigger;
            }
        }

        public Writer putLong(long v) {
            ensure(8);
            buf.putLong(v);
            return this;
        }

        public Writer putInt(int v) {
            ensure(4);
            buf.putInt(v);
            return this;
        }

        public Writer shadows(List<Shadow> shadows) {
            putInt(shadows.size());
            for (Shadow s : shadows) {
                putLong(s.id().getMostSignificantBits()).putLong(s.id().getLeastSignificantBits());
                putInt(s.epoch()).putLong(s.createdMillis()).putInt(s.persistent() ? 1 : 0);
            }
            return this;
        }

        public Writer runs(ChunkEpochs values) {
            int at = buf.position();
            putLong(0);
            long[] count = {0};
            values.forEachRun((first, n, value) -> {
                putLong(n);
                putInt(value);
                count[0]++;
            });
            buf.putLong(at, count[0]);
            return this;
        }

        public Writer versions(VersionIndex index) {
            int at = buf.position();
            putLong(0);
            long[] count = {0};
            index.forEach((id, chunk, from, to, location) -> {
                putLong(chunk).putInt(from).putInt(to).putInt(location);
                count[0]++;
            });
            buf.putLong(at, count[0]);
            return this;
        }

        public Writer uuidOrNull(UUID id) {
            ensure(17);
            if (id == null) {
                buf.put((byte) 0);
            } else {
                buf.put((byte) 1);
                putLong(id.getMostSignificantBits()).putLong(id.getLeastSignificantBits());
            }
            return this;
        }

        /** Frames the body with the header and publishes it durably. */
        public void publish(Storage storage, Path dir, long magic, UUID volume, Header h) throws IOException {
            byte[] body = new byte[buf.position()];
            buf.get(0, body);
            ByteBuffer out = ByteBuffer.allocate(HEADER_SIZE + body.length + 4).order(ByteOrder.LITTLE_ENDIAN);
            out.putLong(magic).putInt(VERSION).putInt(HEADER_SIZE);
            out.putLong(volume.getMostSignificantBits()).putLong(volume.getLeastSignificantBits());
            out.putLong(h.nextGeneration()).putInt(h.epoch()).putInt(h.trackingSince());
            out.putLong(h.chunks()).putInt(h.cleanClose() ? 1 : 0);
            out.putInt(crc(out.array(), 0, 60));
            out.put(body);
            out.putInt(crc(body, 0, body.length));
            storage.publish(dir.resolve(FILE_NAME), out.array());
        }
    }

    /** Reads a body, section by section. */
    public static final class Reader {
        private final Path path;
        private final ByteBuffer b;
        private final Header header;

        private Reader(Path path, ByteBuffer b, Header header) {
            this.path = path;
            this.b = b;
            this.header = header;
        }

        public Header header() {
            return header;
        }

        public long getLong() throws CorruptMetadataException {
            try {
                return b.getLong();
            } catch (BufferUnderflowException e) {
                throw truncated();
            }
        }

        public int getInt() throws CorruptMetadataException {
            try {
                return b.getInt();
            } catch (BufferUnderflowException e) {
                throw truncated();
            }
        }

        private CorruptMetadataException truncated() {
            return new CorruptMetadataException(path + ": truncated checkpoint");
        }

        public List<Shadow> shadows() throws CorruptMetadataException {
            int n = getInt();
            if (n < 0 || n > 1 << 20) {
                throw new CorruptMetadataException(path + ": impossible shadow copy count " + n);
            }
            List<Shadow> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(new Shadow(new UUID(getLong(), getLong()), getInt(), getLong(), (getInt() & 1) != 0));
            }
            return out;
        }

        public ChunkEpochs runs() throws CorruptMetadataException {
            long chunks = header.chunks();
            ChunkEpochs values = new ChunkEpochs(chunks);
            long runs = getLong();
            long chunk = 0;
            for (long r = 0; r < runs; r++) {
                long count = getLong();
                int v = getInt();
                if (count <= 0 || chunk + count > chunks) {
                    throw new CorruptMetadataException(path + ": runs exceed the volume");
                }
                if (v != 0) {
                    for (long c = chunk; c < chunk + count; c++) {
                        values.set(c, v);
                    }
                }
                chunk += count;
            }
            if (chunk != chunks) {
                throw new CorruptMetadataException(path + ": runs cover " + chunk + " of " + chunks + " chunks");
            }
            return values;
        }

        /** Version records; {@code lowestLocation} is the smallest location the layout uses (e.g. BASE). */
        public VersionIndex versions(int lowestLocation) throws CorruptMetadataException {
            long chunks = header.chunks();
            VersionIndex index = new VersionIndex(chunks);
            long n = getLong();
            for (long r = 0; r < n; r++) {
                long c = getLong();
                int from = getInt();
                int to = getInt();
                int location = getInt();
                if (c < 0 || c >= chunks || from < 0 || from > to || location < lowestLocation
                        || location == VersionIndex.NOT_FOUND) {
                    throw new CorruptMetadataException(path + ": impossible version record");
                }
                index.insert(c, from, to, location);
            }
            return index;
        }

        public UUID uuidOrNull() throws CorruptMetadataException {
            try {
                return b.get() == 1 ? new UUID(getLong(), getLong()) : null;
            } catch (BufferUnderflowException e) {
                throw truncated();
            }
        }
    }

    /** Opens and checks the checkpoint, or returns null if there is none. */
    public static Reader read(Storage storage, Path dir, long magic, UUID volume, long chunks) throws IOException {
        Path path = dir.resolve(FILE_NAME);
        if (!storage.exists(path)) {
            return null;
        }
        byte[] all = storage.readAll(path);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (all.length < HEADER_SIZE + 4 || b.getLong(0) != magic) {
            throw new CorruptMetadataException(path + ": not a checkpoint of this volume layout");
        }
        if (b.getInt(60) != crc(all, 0, 60)) {
            throw new CorruptMetadataException(path + ": header checksum mismatch");
        }
        if (b.getInt(8) != VERSION) {
            throw new CorruptMetadataException(path + ": unsupported checkpoint version " + b.getInt(8));
        }
        UUID u = new UUID(b.getLong(16), b.getLong(24));
        if (!u.equals(volume)) {
            throw new CorruptMetadataException(path + ": checkpoint belongs to volume " + u + ", not " + volume);
        }
        if (b.getLong(48) != chunks) {
            throw new CorruptMetadataException(path + ": checkpoint has " + b.getLong(48) + " chunks, the volume has "
                    + chunks);
        }
        int bodyLength = all.length - HEADER_SIZE - 4;
        if (b.getInt(all.length - 4) != crc(all, HEADER_SIZE, bodyLength)) {
            throw new CorruptMetadataException(path + ": body checksum mismatch");
        }
        Header h = new Header(b.getLong(32), b.getInt(40), b.getInt(44), chunks, (b.getInt(56) & 1) != 0);
        ByteBuffer body = ByteBuffer.wrap(all, HEADER_SIZE, bodyLength).slice().order(ByteOrder.LITTLE_ENDIAN);
        return new Reader(path, body, h);
    }

    private static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }
}
