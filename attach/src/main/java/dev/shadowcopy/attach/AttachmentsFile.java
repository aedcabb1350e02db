package dev.shadowcopy.attach;

import dev.shadowcopy.attach.fuse.FuseConnection;
import dev.shadowcopy.platform.LocalStorage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The durable record of attachments, {@code STATE/attachments.tsv}: what to re-adopt or re-establish at start.
 *
 * <pre>
 * # shadowcopy attachments v2
 * key TAB loop device (or -) TAB fuse directory TAB ro|rw TAB FUSE parameters TAB since (epoch ms)
 * </pre>
 * Rewritten whole through {@link LocalStorage#publish} (temporary file, fsync, rename, directory fsync) on every
 * change, so it is always either the old or the new table. An entry is written before its loop device is
 * set up (loop {@code -}) and again once it is: a crash in between leaves an entry whose loop device is found
 * by its backing file. A file in the older format (one line per nbdfuse attachment, no header) is returned
 * as {@link Legacy} lines for clean-up.
 */
final class AttachmentsFile {
    private static final System.Logger LOG = System.getLogger(AttachmentsFile.class.getName());
    static final String HEADER = "# shadowcopy attachments v2";

    /** One recorded attachment. */
    record Entry(String key, String loop, Path dir, boolean readOnly, FuseConnection.Params params, Instant since) {
        Entry withLoop(String l) {
            return new Entry(key, l, dir, readOnly, params, since);
        }
    }

    /** A line of the format before v2: export, loop device, nbdfuse directory, nbdfuse pid, ro|rw. */
    record Legacy(String export, String loop, Path fuseDir, boolean readOnly) {}

    record Contents(List<Entry> entries, List<Legacy> legacy) {}

    private final Path file;

    AttachmentsFile(Path file) {
        this.file = file;
    }

    synchronized Contents read() throws IOException {
        List<Entry> out = new ArrayList<>();
        List<Legacy> legacy = new ArrayList<>();
        if (!Files.exists(file)) {
            return new Contents(out, legacy);
        }
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        boolean v2 = !lines.isEmpty() && lines.getFirst().equals(HEADER);
        for (String line : lines) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split("\t");
            try {
                if (v2 && f.length == 6) {
                    out.add(new Entry(f[0], f[1].equals("-") ? null : f[1], Path.of(f[2]), f[3].equals("ro"),
                            FuseConnection.Params.decode(f[4]), Instant.ofEpochMilli(Long.parseLong(f[5]))));
                } else if (!v2 && f.length == 5 && f[1].startsWith("/dev/loop")) {
                    legacy.add(new Legacy(f[0], f[1], Path.of(f[2]), f[4].equals("ro")));
                } else {
                    LOG.log(System.Logger.Level.WARNING, "{0}: ignoring a line that is not an attachment: {1}", file,
                            line);
                }
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "{0}: ignoring a line that does not parse ({1}): {2}", file,
                        e.getMessage(), line);
            }
        }
        return new Contents(out, legacy);
    }

    /** Durable on return. */
    synchronized void write(List<Entry> entries) throws IOException {
        StringBuilder sb = new StringBuilder(HEADER).append('\n');
        for (Entry e : entries) {
            sb.append(e.key()).append('\t').append(e.loop() == null ? "-" : e.loop()).append('\t').append(e.dir())
                    .append('\t').append(e.readOnly() ? "ro" : "rw").append('\t').append(e.params().encode())
                    .append('\t').append(e.since().toEpochMilli()).append('\n');
        }
        LocalStorage.INSTANCE.publish(file, sb.toString().getBytes(StandardCharsets.UTF_8));
    }
}
