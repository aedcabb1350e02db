package dev.shadowcopy.volume;

import dev.shadowcopy.device.VolumeException;
import dev.shadowcopy.platform.Formats;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The definition of a managed volume as stored in {@code volumes/<name>/volume.desc}: UTF-8 text, one
 * {@code key=value} per line in this order, and a last line {@code crc32c=<8 hex digits>} over all bytes
 * before it. Published atomically; a volume exists exactly when this file does.
 *
 * <pre>
 * format=1
 * uuid=&lt;volume UUID&gt;
 * name=&lt;name&gt;
 * size=&lt;bytes&gt;
 * chunkSize=&lt;bytes&gt;
 * backing=sparse | &lt;absolute path of the file or device&gt;
 * shadowStorageMax=unbounded | &lt;bytes&gt; | &lt;percent&gt;%
 * shadowStorageDir=&lt;absolute path&gt; (empty: the volume's directory)
 * maxShadowCopies=&lt;n&gt;
 * layout=cow | row | mirror (absent in descriptors written before layouts existed: cow)
 * created=&lt;ISO-8601 instant&gt;
 * incomplete=&lt;why the content is not whole, and what to do&gt; (only while an operation that rewrites the
 *            volume has not finished: a restore into it, a revert's write-back; one line)
 * </pre>
 *
 * A reader that does not know a key ignores it; {@code incomplete} is only ever added by operations that also
 * remove it once their last byte is durable.
 */
record VolumeDescriptor(UUID id, VolumeConfig config, Instant created, String incomplete) {
    static final String FILE_NAME = "volume.desc";
    static final int FORMAT = Formats.VOLUME_DESCRIPTOR_FORMAT;

    VolumeDescriptor {
        if (incomplete != null) {
            incomplete = incomplete.replace('\n', ' ').replace('\r', ' ').strip();
            if (incomplete.isEmpty()) {
                throw new IllegalArgumentException("an incomplete volume needs the reason");
            }
        }
    }

    VolumeDescriptor(UUID id, VolumeConfig config, Instant created) {
        this(id, config, created, null);
    }

    VolumeDescriptor with(VolumeConfig newConfig, String newIncomplete) {
        return new VolumeDescriptor(id, newConfig, created, newIncomplete);
    }

    byte[] encode() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", Integer.toString(FORMAT));
        m.put("uuid", id.toString());
        m.put("name", config.name());
        m.put("size", Long.toString(config.size()));
        m.put("chunkSize", Integer.toString(config.chunkSize()));
        m.put("backing", config.backing() instanceof Backing.Existing e ? e.path().toString() : "sparse");
        ShadowStorageLimit l = config.shadowStorage();
        m.put("shadowStorageMax", l.isUnbounded() ? "unbounded" : l.percent() > 0 ? l.percent() + "%"
                : Long.toString(l.bytes()));
        m.put("shadowStorageDir", config.shadowStorageDir() == null ? "" : config.shadowStorageDir().toString());
        m.put("maxShadowCopies", Integer.toString(config.maxShadowCopies()));
        m.put("layout", config.layout().shortName());
        m.put("created", created.toString());
        if (incomplete != null) {
            m.put("incomplete", incomplete);
        }
        StringBuilder sb = new StringBuilder();
        m.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        byte[] body = sb.toString().getBytes(StandardCharsets.UTF_8);
        String crcLine = "crc32c=" + HexFormat.of().toHexDigits(crc(body, body.length)) + "\n";
        byte[] out = new byte[body.length + crcLine.length()];
        System.arraycopy(body, 0, out, 0, body.length);
        System.arraycopy(crcLine.getBytes(StandardCharsets.US_ASCII), 0, out, body.length, crcLine.length());
        return out;
    }

    static VolumeDescriptor decode(Path file, byte[] bytes) throws IOException {
        String text = new String(bytes, StandardCharsets.UTF_8);
        int crcAt = text.lastIndexOf("crc32c=");
        if (crcAt < 0 || !text.endsWith("\n")) {
            throw corrupt(file, "no checksum line");
        }
        int bodyLength = text.substring(0, crcAt).getBytes(StandardCharsets.UTF_8).length;
        String stored = text.substring(crcAt + 7).strip();
        if (!stored.equals(HexFormat.of().toHexDigits(crc(bytes, bodyLength)))) {
            throw corrupt(file, "checksum mismatch");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : text.substring(0, crcAt).split("\n")) {
            int eq = line.indexOf('=');
            if (eq <= 0) {
                throw corrupt(file, "bad line '" + line + "'");
            }
            m.put(line.substring(0, eq), line.substring(eq + 1));
        }
        try {
            if (!Integer.toString(FORMAT).equals(m.get("format"))) {
                throw corrupt(file, "unsupported format " + m.get("format"));
            }
            String backing = require(m, "backing", file);
            String dir = m.getOrDefault("shadowStorageDir", "");
            VolumeConfig config = new VolumeConfig(require(m, "name", file), Long.parseLong(require(m, "size", file)),
                    Integer.parseInt(require(m, "chunkSize", file)),
                    backing.equals("sparse") ? Backing.sparse() : Backing.existing(Path.of(backing)),
                    ShadowStorageLimit.parse(require(m, "shadowStorageMax", file)),
                    dir.isEmpty() ? null : Path.of(dir), Integer.parseInt(require(m, "maxShadowCopies", file)),
                    VolumeLayout.parse(m.getOrDefault("layout", "cow")));
            return new VolumeDescriptor(UUID.fromString(require(m, "uuid", file)), config,
                    Instant.parse(require(m, "created", file)), m.get("incomplete"));
        } catch (IllegalArgumentException | java.time.format.DateTimeParseException e) {
            throw corrupt(file, e.getMessage());
        }
    }

    private static String require(Map<String, String> m, String key, Path file) throws IOException {
        String v = m.get(key);
        if (v == null) {
            throw corrupt(file, "missing " + key);
        }
        return v;
    }

    private static VolumeException corrupt(Path file, String what) {
        return new VolumeException(VolumeException.Code.CORRUPT, file + ": damaged volume descriptor (" + what + ")");
    }

    private static int crc(byte[] b, int n) {
        CRC32C c = new CRC32C();
        c.update(b, 0, n);
        return (int) c.getValue();
    }
}
