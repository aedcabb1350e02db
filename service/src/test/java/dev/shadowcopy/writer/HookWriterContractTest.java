package dev.shadowcopy.writer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A hook (an executable in the hooks directory) keeps the writer contract; it sees each event as its argument. */
class HookWriterContractTest extends WriterContract {
    @TempDir
    Path dir;

    @Override
    protected Writer writer() throws Exception {
        Path hook = dir.resolve("app");
        Files.writeString(hook, "#!/bin/sh\necho \"$1\" >> " + dir.resolve("events") + "\nexit 0\n");
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwx------"));
        return new HookWriter(hook);
    }

    @Test
    void theHookHearsTheEventsByTheirWireNames() throws Exception {
        Writer w = writer();
        for (WriterEvent e : BACKUP) {
            send(w, e, context());
        }
        assertEquals(BACKUP.stream().map(WriterEvent::wireName).toList(), Files.readAllLines(dir.resolve("events")));
    }

    @Test
    void aHookExitingWith75FailsRetryably() throws Exception {
        Path hook = dir.resolve("busy");
        Files.writeString(hook, "#!/bin/sh\n[ \"$1\" = freeze ] && exit 75\nexit 0\n");
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwx------"));
        WriterCall.Outcome o = send(new HookWriter(hook), WriterEvent.FREEZE, context());
        assertEquals(WriterFailure.RETRYABLE, o.failure(), o.message());
    }
}
