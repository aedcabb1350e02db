package dev.shadowcopy.platform;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Every magic number and format version of Shadowcopy's own files and wire messages, in one place (STYLE 15), so
 * that two formats can never share a magic and a stale one cannot hide in a comment: each magic is derived here from
 * its text and the byte order its file is written in, and {@code FormatsTest} checks that all are unique, that each
 * is exactly as wide as its field (4 or 8 ASCII bytes) and reads back as its text.
 *
 * <p>The byte layout of each file stays documented byte by byte in the class that owns the format (named below);
 * this class owns only the numbers that identify a format and its version. Foreign formats (qcow2, NBD, FUSE) keep
 * their constants next to the code that speaks them, named as in their specs, except the qcow2 magic that our
 * writer stamps, listed here for completeness.
 *
 * <p>Byte order: the engine's binary metadata (journal, checkpoints) is little-endian; the copy lists, the overlay
 * map and the image repository's blobs are big-endian ({@link ByteBuffer}'s default). A magic is therefore given
 * with the order its file uses, so that the bytes on disk spell its text in both cases.
 */
public final class Formats {
    private static final List<Magic> MAGICS = new ArrayList<>();

    private Formats() {}

    // ---------------------------------------------------------------- engine: software providers

    /** Journal generation header ({@code provider.store.JournalFraming}), little-endian. */
    public static final long JOURNAL_MAGIC = magic8("JOURNAL_MAGIC", "SCJOURNL", ByteOrder.LITTLE_ENDIAN);
    public static final int JOURNAL_VERSION = 1;
    /** Journal header field "kind": whose records follow (a journal of one layout is never replayed by another). */
    public static final int JOURNAL_KIND_COPY_ON_WRITE = 1;
    public static final int JOURNAL_KIND_REDIRECT_ON_WRITE = 2;

    /** Copy-on-write checkpoint ({@code provider.cow.CowCheckpoint}), little-endian. */
    public static final long COW_CHECKPOINT_MAGIC = magic8("COW_CHECKPOINT_MAGIC", "SCCHKPT1",
            ByteOrder.LITTLE_ENDIAN);
    /** Redirect-on-write checkpoint ({@code provider.row.RowCheckpoint}), little-endian. */
    public static final long ROW_CHECKPOINT_MAGIC = magic8("ROW_CHECKPOINT_MAGIC", "SCROWCP1",
            ByteOrder.LITTLE_ENDIAN);
    /** Frame and sections shared by both checkpoints ({@code provider.store.CheckpointFile}). */
    public static final int CHECKPOINT_VERSION = 1;

    /** The list of reflink clones ({@code provider.store.CopyList}), big-endian. */
    public static final int REFLINK_COPY_LIST_MAGIC = magic4("REFLINK_COPY_LIST_MAGIC", "SCRF", ByteOrder.BIG_ENDIAN);
    /** The list of split mirrors ({@code provider.store.CopyList}), big-endian. */
    public static final int MIRROR_COPY_LIST_MAGIC = magic4("MIRROR_COPY_LIST_MAGIC", "SCMR", ByteOrder.BIG_ENDIAN);
    public static final int COPY_LIST_VERSION = 1;

    /** The map of an auto-recovery overlay ({@code overlay.OverlayDevice}), big-endian. */
    public static final int OVERLAY_MAP_MAGIC = magic4("OVERLAY_MAP_MAGIC", "SCOV", ByteOrder.BIG_ENDIAN);

    /** {@code volume.desc}, a text file: the value of its {@code format=} line ({@code volume.VolumeDescriptor}). */
    public static final int VOLUME_DESCRIPTOR_FORMAT = 1;

    // ---------------------------------------------------------------- image: backup repository

    /** Header of every repository blob: chunks, indexes, manifests ({@code image.repository.BlobCodec}), big-endian. */
    public static final int REPOSITORY_BLOB_MAGIC = magic4("REPOSITORY_BLOB_MAGIC", "SCB1", ByteOrder.BIG_ENDIAN);
    /** A chunk stored as a patch over an earlier whole chunk ({@code image.manifest.ChunkPatch}), big-endian. */
    public static final int CHUNK_PATCH_MAGIC = magic4("CHUNK_PATCH_MAGIC", "SCP1", ByteOrder.BIG_ENDIAN);
    /** The published map of a live restore's chunks in place ({@code image.restore.PresentMap}), big-endian. */
    public static final int LIVE_RESTORE_MAP_MAGIC = magic4("LIVE_RESTORE_MAP_MAGIC", "SCLM", ByteOrder.BIG_ENDIAN);
    /** The same map as kept in the page cache between publications ({@code image.restore.PresentMap}), big-endian. */
    public static final int LIVE_RESTORE_LOG_MAGIC = magic4("LIVE_RESTORE_LOG_MAGIC", "SCLL", ByteOrder.BIG_ENDIAN);
    public static final int LIVE_RESTORE_MAP_VERSION = 1;
    /** {@code repository.json}'s {@code format} ({@code image.repository.RepositoryConfig}). */
    public static final int REPOSITORY_FORMAT = 1;
    /** A backup manifest's {@code format} ({@code image.manifest.Manifest}). */
    public static final int MANIFEST_FORMAT = 1;
    /** qcow2 (QEMU's format, not ours) as {@code image.export.Qcow2Writer} writes it: "QFI\xfb", version 3. */
    public static final int QCOW2_MAGIC = 0x514649fb;
    public static final int QCOW2_VERSION = 3;

    // ---------------------------------------------------------------- service and attach

    /** The service's catalog ({@code service.catalog.Catalog}): its JSON {@code version}. */
    public static final int CATALOG_VERSION = 1;
    /** The descriptor holder's line protocol ({@code attach.keep.HolderProcess}): {@code HOLDER <version> …}. */
    public static final int HOLDER_PROTOCOL_VERSION = 1;

    /**
     * One magic: {@code text} is what the file holds, {@code order} how the field is read as a number.
     *
     * @param field the constant's name in this class
     */
    public record Magic(String field, String text, ByteOrder order, long value) {
        /** The magic's bytes as they lie in the file. */
        public byte[] bytes() {
            ByteBuffer b = ByteBuffer.allocate(text.length()).order(order);
            if (text.length() == 8) {
                b.putLong(value);
            } else {
                b.putInt((int) value);
            }
            return b.array();
        }
    }

    /** Every magic of our own formats (for the uniqueness test and for tools that identify a file). */
    public static List<Magic> magics() {
        return List.copyOf(MAGICS);
    }

    private static long magic8(String field, String text, ByteOrder order) {
        return register(field, text, 8, order);
    }

    private static int magic4(String field, String text, ByteOrder order) {
        return (int) register(field, text, 4, order);
    }

    private static long register(String field, String text, int width, ByteOrder order) {
        byte[] ascii = text.getBytes(StandardCharsets.US_ASCII);
        if (ascii.length != width) {
            throw new IllegalArgumentException(field + ": magic \"" + text + "\" is " + ascii.length
                    + " bytes, its field " + width);
        }
        ByteBuffer b = ByteBuffer.wrap(ascii).order(order);
        long value = width == 8 ? b.getLong() : b.getInt();
        MAGICS.add(new Magic(field, text, order, value));
        return value;
    }
}
