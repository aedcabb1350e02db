package dev.shadowcopy.attach.keep;

import java.io.IOException;
import java.util.Map;

/**
 * Keeps copies of descriptors outside this process, so that they outlive it: the FUSE connections of
 * attached volumes stay alive while the service restarts, is upgraded or is killed, and the next run takes
 * them back. Two implementations: systemd's file-descriptor store when systemd runs the service, and a small
 * holder process of ours when it does not.
 *
 * <p>Contract: {@link #put} returns once the copy is kept (a crash of this process right after loses
 * nothing); {@link #adopt} is called once at start, before any put, and hands over what an earlier run kept.
 * Names are at most 200 printable ASCII characters without spaces or ':'. Thread-safe.
 */
public interface DescriptorStore extends AutoCloseable {

    /** Keeps a copy of {@code fd} under {@code name}, replacing what was kept under it. */
    void put(String name, int fd) throws IOException;

    /** Forgets {@code name} (its copy is closed). */
    void remove(String name) throws IOException;

    /**
     * What an earlier run kept: name → descriptor, owned by the caller from now on (the store keeps its own
     * copy until {@link #remove}).
     */
    Map<String, Integer> adopt() throws IOException;

    /** For messages and {@code volume list}: "systemd file-descriptor store", "holder process 1234". */
    String describe();

    @Override
    void close();

    static void checkName(String name) {
        if (name.isEmpty() || name.length() > 200) {
            throw new IllegalArgumentException("descriptor name must be 1..200 characters: " + name);
        }
        for (char c : name.toCharArray()) {
            if (c <= ' ' || c > '~' || c == ':') {
                throw new IllegalArgumentException("descriptor name has a space, ':' or non-ASCII character: " + name);
            }
        }
    }
}
