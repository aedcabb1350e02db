package dev.shadowcopy.nbd.attach;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The record of attachments made by this service, so that a service restarted after a crash can undo them:
 * {@code attachments.tsv} in the state directory, one line per attachment,
 * {@code export<TAB>loop device<TAB>fuse directory<TAB>nbdfuse pid<TAB>ro|rw}. Rewritten whole (temp file,
 * fsync, rename) on every change; a line that does not parse is reported and skipped.
 */
final class AttachmentsFile {
    private static final System.Logger LOG = System.getLogger(AttachmentsFile.class.getName());
    private final Path file;

    AttachmentsFile(Path file) {
        this.file = file;
    }

    synchronized List<Attachment> read() throws IOException {
        List<Attachment> out = new ArrayList<>();
        if (!Files.exists(file)) {
            return out;
        }
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            String[] f = line.split("\t");
            if (f.length != 5 || !f[1].startsWith("/dev/loop")) {
                LOG.log(System.Logger.Level.WARNING, "{0}: ignoring a line that is not an attachment: {1}", file, line);
                continue;
            }
            try {
                out.add(new Attachment(f[0], f[1], Path.of(f[2]), Long.parseLong(f[3]), f[4].equals("ro")));
            } catch (NumberFormatException e) {
                LOG.log(System.Logger.Level.WARNING, "{0}: ignoring a line with a bad pid: {1}", file, line);
            }
        }
        return out;
    }

    synchronized void write(List<Attachment> attachments) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (Attachment a : attachments) {
            sb.append(a.export()).append('\t').append(a.loopDevice()).append('\t').append(a.fuseDir()).append('\t')
                    .append(a.pid()).append('\t').append(a.readOnly() ? "ro" : "rw").append('\n');
        }
        dev.shadowcopy.platform.LocalStorage.INSTANCE.publish(file, sb.toString().getBytes(StandardCharsets.UTF_8));
    }
}
