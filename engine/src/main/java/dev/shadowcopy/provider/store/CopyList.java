package dev.shadowcopy.provider.store;

import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The whole metadata of providers whose copies are files of their own (reflink clones, split mirrors): the list
 * of copies, CRC'd, replaced atomically and durably with {@link Storage#publish} on every change. Big-endian: magic
 * (4; {@link Formats#REFLINK_COPY_LIST_MAGIC} or {@link Formats#MIRROR_COPY_LIST_MAGIC}), version (4;
 * {@link Formats#COPY_LIST_VERSION}), count (4), then per copy: id length (2) and id (ASCII), sequence (4), creation
 * instant in seconds (8) and nanoseconds (4), persistent (1), size (8); CRC32C (4) of everything before it.
 */
public final class CopyList {
    private final Storage storage;
    private final Path file;
    private final int magic;
    private final String volume;

    public CopyList(Storage storage, Path file, int magic, String volume) {
        this.storage = storage;
        this.file = file;
        this.magic = magic;
        this.volume = volume;
    }

    /** The copies as last published; empty when the list was never written. */
    public List<ShadowCopyInfo> read() throws IOException {
        return storage.exists(file) ? decode(storage.readAll(file)) : List.of();
    }

    /** Durable on return. */
    public void publish(List<ShadowCopyInfo> copies) throws IOException {
        List<byte[]> recs = new ArrayList<>();
        int total = 12;
        for (ShadowCopyInfo c : copies) {
            byte[] id = c.id().toString().getBytes(StandardCharsets.US_ASCII);
            ByteBuffer b = ByteBuffer.allocate(2 + id.length + 4 + 8 + 4 + 1 + 8);
            b.putShort((short) id.length).put(id).putInt(c.sequence()).putLong(c.created().getEpochSecond())
                    .putInt(c.created().getNano()).put((byte) (c.persistent() ? 1 : 0)).putLong(c.size());
            recs.add(b.array());
            total += b.capacity();
        }
        ByteBuffer out = ByteBuffer.allocate(total + 4);
        out.putInt(magic).putInt(Formats.COPY_LIST_VERSION).putInt(recs.size());
        recs.forEach(out::put);
        CRC32C crc = new CRC32C();
        crc.update(out.array(), 0, out.position());
        out.putInt((int) crc.getValue());
        storage.publish(file, out.array());
    }

    private List<ShadowCopyInfo> decode(byte[] data) throws IOException {
        try {
            ByteBuffer b = ByteBuffer.wrap(data);
            CRC32C crc = new CRC32C();
            crc.update(data, 0, data.length - 4);
            if (data.length < 16 || b.getInt() != magic || b.getInt() != Formats.COPY_LIST_VERSION
                    || (int) crc.getValue() != ByteBuffer.wrap(data, data.length - 4, 4).getInt()) {
                throw new VolumeException(VolumeException.Code.CORRUPT, file + " is damaged");
            }
            int n = b.getInt();
            List<ShadowCopyInfo> out = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] id = new byte[b.getShort()];
                b.get(id);
                int seq = b.getInt();
                Instant t = Instant.ofEpochSecond(b.getLong(), b.getInt());
                boolean persistent = b.get() == 1;
                long size = b.getLong();
                out.add(new ShadowCopyInfo(ShadowCopyId.parse(new String(id, StandardCharsets.US_ASCII)), volume, seq,
                        t, persistent, size));
            }
            return out;
        } catch (RuntimeException e) {
            throw new VolumeException(VolumeException.Code.CORRUPT, file + " is damaged: " + e, e);
        }
    }
}
