package dev.shadowcopy.provider.cow;

import dev.shadowcopy.provider.store.ChunkEpochs;
import dev.shadowcopy.provider.store.CorruptMetadataException;
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
 * A complete image of a volume's copy-on-write metadata at one moment, so that the journal before it can
 * be deleted and open does not replay history. File {@code checkpoint}, published atomically
 * ({@link Storage#publish}); journal generations below {@link #nextGeneration} are obsolete once it is durable.
 * Little-endian:
 *
 * <pre>
 * Header, 64 bytes:
 *   0  8  magic "SCCHKPT1"
 *   8  4  format version (1)
 *  12  4  header length (64)
 *  16 16  volume UUID
 *  32  8  next journal generation (replay starts there)
 *  40  4  current epoch
 *  44  4  tracking-since epoch (changes before it are not known)
 *  48  8  chunk count
 *  56  4  flags: bit 0 = written at a clean close
 *  60  4  CRC32C of bytes 0..59
 * Body:
 *   8  backing file mtime in ns at the checkpoint (-1 = not a regular file)
 *   4  shadow copy count, then per copy: uuid(16) epoch(4) createdMillis(8) flags(4; bit 0 persistent)
 *   8  epoch run count, then per run: chunk count(8) epoch(4); runs cover all chunks in order
 *   8  record count, then per record: chunk(8) from(4) to(4) slot(4)
 *   1  1 if a revert is unfinished, then its shadow copy uuid(16)
 *   4  CRC32C of the body
 * </pre>
 */
final class Checkpoint {
    static final String FILE_NAME = "checkpoint";
    static final long MAGIC = 0x31545048434b4353L; // "SCCHKPT1" little-endian
    static final int VERSION = 1;
    static final int HEADER_SIZE = 64;

    private Checkpoint() {}

    /** A shadow copy as stored in metadata. */
    record Shadow(UUID id, int epoch, long createdMillis, boolean persistent) {}

    /** The state a checkpoint holds. */
    record State(long nextGeneration, int epoch, int trackingSince, boolean cleanClose, long backingMtime,
                 List<Shadow> shadows, ChunkEpochs epochs, PreservationIndex index, UUID revertPending) {}

    static void write(Storage storage, Path dir, UUID volume, State s) throws IOException {
        Body body = new Body();
        body.putLong(s.backingMtime());
        body.putInt(s.shadows().size());
        for (Shadow sh : s.shadows()) {
            body.putLong(sh.id().getMostSignificantBits());
            body.putLong(sh.id().getLeastSignificantBits());
            body.putInt(sh.epoch());
            body.putLong(sh.createdMillis());
            body.putInt(sh.persistent() ? 1 : 0);
        }
        int runCountAt = body.position();
        body.putLong(0);
        long[] runs = {0};
        s.epochs().forEachRun((first, count, epoch) -> {
            body.putLong(count);
            body.putInt(epoch);
            runs[0]++;
        });
        body.patchLong(runCountAt, runs[0]);
        int recordCountAt = body.position();
        body.putLong(0);
        long[] records = {0};
        s.index().forEach((id, chunk, from, to, slot) -> {
            body.putLong(chunk);
            body.putInt(from);
            body.putInt(to);
            body.putInt(slot);
            records[0]++;
        });
        body.patchLong(recordCountAt, records[0]);
        if (s.revertPending() != null) {
            body.put((byte) 1);
            body.putLong(s.revertPending().getMostSignificantBits());
            body.putLong(s.revertPending().getLeastSignificantBits());
        } else {
            body.put((byte) 0);
        }
        byte[] bodyBytes = body.bytes();

        ByteBuffer out = ByteBuffer.allocate(HEADER_SIZE + bodyBytes.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(MAGIC).putInt(VERSION).putInt(HEADER_SIZE);
        out.putLong(volume.getMostSignificantBits()).putLong(volume.getLeastSignificantBits());
        out.putLong(s.nextGeneration()).putInt(s.epoch()).putInt(s.trackingSince());
        out.putLong(s.epochs().chunks()).putInt(s.cleanClose() ? 1 : 0);
        out.putInt(crc(out.array(), 0, 60));
        out.put(bodyBytes);
        out.putInt(crc(bodyBytes, 0, bodyBytes.length));
        storage.publish(dir.resolve(FILE_NAME), out.array());
    }

    /** Reads the checkpoint, or returns null if there is none. */
    static State read(Storage storage, Path dir, UUID volume, long chunks) throws IOException {
        Path path = dir.resolve(FILE_NAME);
        if (!storage.exists(path)) {
            return null;
        }
        byte[] all = storage.readAll(path);
        try {
            ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
            if (all.length < HEADER_SIZE + 4 || b.getLong(0) != MAGIC) {
                throw new CorruptMetadataException(path + ": not a Shadowcopy checkpoint");
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
                throw new CorruptMetadataException(path + ": checkpoint has " + b.getLong(48)
                        + " chunks, the volume has " + chunks);
            }
            int bodyLength = all.length - HEADER_SIZE - 4;
            if (b.getInt(all.length - 4) != crc(all, HEADER_SIZE, bodyLength)) {
                throw new CorruptMetadataException(path + ": body checksum mismatch");
            }
            long nextGeneration = b.getLong(32);
            int epoch = b.getInt(40);
            int trackingSince = b.getInt(44);
            boolean clean = (b.getInt(56) & 1) != 0;
            b.position(HEADER_SIZE);
            long mtime = b.getLong();
            int shadowCount = b.getInt();
            if (shadowCount < 0 || shadowCount > 1 << 20) {
                throw new CorruptMetadataException(path + ": impossible shadow copy count " + shadowCount);
            }
            List<Shadow> shadows = new ArrayList<>(shadowCount);
            for (int i = 0; i < shadowCount; i++) {
                shadows.add(new Shadow(new UUID(b.getLong(), b.getLong()), b.getInt(), b.getLong(),
                        (b.getInt() & 1) != 0));
            }
            ChunkEpochs epochs = new ChunkEpochs(chunks);
            long runCount = b.getLong();
            long chunk = 0;
            for (long r = 0; r < runCount; r++) {
                long count = b.getLong();
                int e = b.getInt();
                if (count <= 0 || chunk + count > chunks) {
                    throw new CorruptMetadataException(path + ": epoch runs exceed the volume");
                }
                if (e != 0) {
                    for (long c = chunk; c < chunk + count; c++) {
                        epochs.set(c, e);
                    }
                }
                chunk += count;
            }
            if (chunk != chunks) {
                throw new CorruptMetadataException(path + ": epoch runs cover " + chunk + " of " + chunks + " chunks");
            }
            PreservationIndex index = new PreservationIndex(chunks);
            long recordCount = b.getLong();
            for (long r = 0; r < recordCount; r++) {
                long c = b.getLong();
                int from = b.getInt();
                int to = b.getInt();
                int slot = b.getInt();
                if (c < 0 || c >= chunks || from < 0 || from > to || slot < PreservationIndex.ZERO) {
                    throw new CorruptMetadataException(path + ": impossible preservation record");
                }
                index.insert(c, from, to, slot);
            }
            UUID revert = b.get() == 1 ? new UUID(b.getLong(), b.getLong()) : null;
            return new State(nextGeneration, epoch, trackingSince, clean, mtime, shadows, epochs, index, revert);
        } catch (BufferUnderflowException | IndexOutOfBoundsException e) {
            throw new CorruptMetadataException(path + ": truncated checkpoint");
        }
    }

    private static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    /** A growable little-endian byte buffer. */
    private static final class Body {
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

        void put(byte v) {
            ensure(1);
            buf.put(v);
        }

        void putInt(int v) {
            ensure(4);
            buf.putInt(v);
        }

        void putLong(long v) {
            ensure(8);
            buf.putLong(v);
        }

        int position() {
            return buf.position();
        }

        void patchLong(int at, long v) {
            buf.putLong(at, v);
        }

        byte[] bytes() {
            byte[] out = new byte[buf.position()];
            buf.get(0, out);
            return out;
        }
    }
}
