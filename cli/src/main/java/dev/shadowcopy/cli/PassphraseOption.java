package dev.shadowcopy.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Where an encrypted repository's passphrase comes from: {@code --passphrase-file} (first line), else the
 * environment variable {@code SHADOWCOPY_PASSPHRASE}. Never from the command line, where {@code ps} shows it.
 */
final class PassphraseOption {
    @Option(names = "--passphrase-file", paramLabel = "FILE", description = "Passphrase of an encrypted repository "
            + "(first line of FILE; default: $SHADOWCOPY_PASSPHRASE).")
    Path file;

    /** The passphrase, or null when none was given. */
    char[] get() throws IOException {
        if (file != null) {
            String s = Files.readString(file, StandardCharsets.UTF_8);
            int nl = s.indexOf('\n');
            String line = nl >= 0 ? s.substring(0, nl) : s;
            if (line.endsWith("\r")) {
                line = line.substring(0, line.length() - 1);
            }
            if (line.isEmpty()) {
                throw new IOException("passphrase file " + file + " is empty");
            }
            return line.toCharArray();
        }
        String env = System.getenv("SHADOWCOPY_PASSPHRASE");
        return env == null || env.isEmpty() ? null : env.toCharArray();
    }
}
