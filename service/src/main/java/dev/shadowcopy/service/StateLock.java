package dev.shadowcopy.service;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One daemon per state directory: an exclusive {@code flock} on {@code daemon.lock}, holding the owner's pid.
 * The kernel drops the lock when the process dies, so a crashed daemon never blocks the next one.
 */
public final class StateLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private StateLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    public static StateLock acquire(Path stateDir) throws IOException {
        Path file = stateDir.resolve("daemon.lock");
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileLock l = ch.tryLock();
        if (l == null) {
            String pid = Files.readString(file).trim();
            ch.close();
            throw new ServiceException(VssError.BAD_STATE, "another shadowcopy daemon (pid " + (pid.isEmpty() ? "?" : pid)
                    + ") is running on " + stateDir);
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        return new StateLock(ch, l);
    }

    @Override
    public void close() throws IOException {
        lock.release();
        channel.close();
    }
}
