package dev.shadowcopy.attach.keep;

import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.attach.sys.UnixSocket;
import dev.shadowcopy.platform.Formats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The descriptor holder: a small process that keeps copies of the service's FUSE descriptors so that they
 * outlive the service (the role systemd's file-descriptor store plays where systemd runs the service).
 * It does nothing else: no I/O on the descriptors, no state on disk, no dependency on the service's state.
 *
 * <p>It starts a new session (setsid) so that signals to the service's process group — a Ctrl-C in the
 * terminal that started the daemon — do not reach it, and it exits on its own once it holds nothing and no
 * client is connected.
 *
 * <p>Protocol ({@code SOCK_SEQPACKET} on {@code STATE/holder.sock}, mode 0600, one text message per request,
 * only peers with our effective uid are served):
 * <pre>
 * HELLO            → HOLDER 1 &lt;pid&gt; &lt;count&gt;
 * PUT name  + fd   → OK            (replaces and closes an earlier copy under that name)
 * DROP name        → OK
 * LIST             → COUNT n, then n × "FD name" each carrying its descriptor
 * WATCH            → (no answer; the connection stays open so that the client sees our death as end of stream)
 * anything else    → ERR text
 * </pre>
 * Version 1. A newer service must keep speaking version 1 to a holder left by an older one.
 */
public final class HolderProcess {
    static final int VERSION = Formats.HOLDER_PROTOCOL_VERSION;
    private static final int IDLE_EXIT_MS = 60_000;

    private final UnixSocket listener;
    private final Path socketPath;
    private final Map<String, Integer> held = new LinkedHashMap<>();
    private final AtomicInteger clients = new AtomicInteger();
    private final int uid = Linux.geteuid();

    private HolderProcess(UnixSocket listener, Path socketPath) {
        this.listener = listener;
        this.socketPath = socketPath;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: HolderProcess SOCKET");
            System.exit(2);
        }
        Linux.setsid();
        Path socket = Path.of(args[0]);
        // The socket appears under its name only once it listens with its final mode: the starter takes a socket
        // that refuses connections for one left by a dead holder and removes it, and did so to this one between
        // bind and listen on a loaded machine (the chmod then failed and the holder exited with 1).
        Path ready = socket.resolveSibling(socket.getFileName() + "." + ProcessHandle.current().pid() + ".new");
        Files.deleteIfExists(ready);
        UnixSocket l = UnixSocket.listen(ready, 16);
        Files.setPosixFilePermissions(ready, PosixFilePermissions.fromString("rw-------"));
        Files.move(ready, socket, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        HolderProcess h = new HolderProcess(l, socket);
        System.err.println("shadowcopy holder: pid " + ProcessHandle.current().pid() + " on " + socket);
        Thread.ofPlatform().daemon().name("idle-exit").start(h::exitWhenIdleAtStart);
        h.acceptLoop();
    }

    private void exitWhenIdleAtStart() {
        try {
            Thread.sleep(IDLE_EXIT_MS);
        } catch (InterruptedException e) {
            return;
        }
        maybeExit();
    }

    private void acceptLoop() throws IOException {
        while (true) {
            UnixSocket c = listener.accept();
            UnixSocket.Peer peer = c.peer();
            if (peer.uid() != uid) {
                System.err.println("shadowcopy holder: refused pid " + peer.pid() + " (uid " + peer.uid() + ")");
                c.close();
                continue;
            }
            clients.incrementAndGet();
            Thread.ofPlatform().daemon().name("client-" + peer.pid()).start(() -> serve(c));
        }
    }

    private void serve(UnixSocket c) {
        try (c) {
            while (true) {
                UnixSocket.Message m = c.receive(1024);
                if (m == null) {
                    return;
                }
                String[] w = m.text().strip().split(" ", 2);
                int[] fds = m.fds();
                switch (w[0]) {
                    case "HELLO" -> c.send("HOLDER " + VERSION + " " + ProcessHandle.current().pid() + " " + count());
                    case "PUT" -> {
                        if (w.length != 2 || fds.length != 1) {
                            closeAll(fds);
                            c.send("ERR PUT takes a name and exactly one descriptor");
                            continue;
                        }
                        Integer old;
                        synchronized (held) {
                            old = held.put(w[1], fds[0]);
                        }
                        if (old != null) {
                            Linux.close(old);
                        }
                        c.send("OK");
                    }
                    case "DROP" -> {
                        closeAll(fds);
                        Integer old;
                        synchronized (held) {
                            old = w.length == 2 ? held.remove(w[1]) : null;
                        }
                        if (old != null) {
                            Linux.close(old);
                        }
                        c.send("OK");
                    }
                    case "LIST" -> {
                        closeAll(fds);
                        Map<String, Integer> copy;
                        synchronized (held) {
                            copy = new LinkedHashMap<>(held);
                        }
                        c.send("COUNT " + copy.size());
                        for (var e : copy.entrySet()) {
                            c.send("FD " + e.getKey(), e.getValue());
                        }
                    }
                    case "WATCH" -> closeAll(fds);
                    default -> {
                        closeAll(fds);
                        c.send("ERR unknown request " + w[0]);
                    }
                }
            }
        } catch (IOException e) {
            System.err.println("shadowcopy holder: client: " + e.getMessage());
        } finally {
            clients.decrementAndGet();
            maybeExit();
        }
    }

    private int count() {
        synchronized (held) {
            return held.size();
        }
    }

    private synchronized void maybeExit() {
        if (clients.get() == 0 && count() == 0) {
            try {
                Files.deleteIfExists(socketPath);
            } catch (IOException ignored) {
                // the next service removes a stale socket itself
            }
            System.err.println("shadowcopy holder: holding nothing, exiting");
            System.exit(0);
        }
    }

    private static void closeAll(int[] fds) {
        for (int f : fds) {
            Linux.close(f);
        }
    }
}
