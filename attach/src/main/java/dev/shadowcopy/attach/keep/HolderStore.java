package dev.shadowcopy.attach.keep;

import dev.shadowcopy.attach.sys.Linux;
import dev.shadowcopy.attach.sys.LinuxException;
import dev.shadowcopy.attach.sys.UnixSocket;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Keeps descriptors in our {@link HolderProcess}, started on first need from the same Java and class path
 * as the service and left running when the service stops or dies.
 *
 * <p>If the holder dies while the service runs (someone killed it), the service still has its own copies:
 * a watch connection sees the holder's end of stream, and the next {@link #put} — or the watcher itself —
 * starts a new holder and hands it every descriptor again. Only both dying together loses the connections
 * (then file systems on attached volumes see I/O errors; docs/service.md).
 *
 * <p>Locking: {@code this} guards the request connection and the table of what we keep.
 */
public final class HolderStore implements DescriptorStore {
    private static final System.Logger LOG = System.getLogger(HolderStore.class.getName());
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final Path socket;
    private final Path log;
    /** Our own descriptors, by name: what to hand a new holder. Not owned: their users close them. */
    private final Map<String, Integer> kept = new LinkedHashMap<>();
    private UnixSocket conn;
    private UnixSocket watch;
    private long holderPid = -1;
    private volatile boolean closed;

    public HolderStore(Path socket, Path log) {
        this.socket = socket;
        this.log = log;
    }

    @Override
    public synchronized Map<String, Integer> adopt() throws IOException {
        if (!connectExisting()) {
            return Map.of();
        }
        send("LIST");
        String head = receive().text();
        if (!head.startsWith("COUNT ")) {
            throw new IOException("the descriptor holder on " + socket + " answered LIST with: " + head);
        }
        int n = Integer.parseInt(head.substring(6).strip());
        Map<String, Integer> out = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            UnixSocket.Message m = receive();
            if (!m.text().startsWith("FD ") || m.fds().length != 1) {
                for (int f : m.fds()) {
                    Linux.close(f);
                }
                throw new IOException("the descriptor holder on " + socket + " sent " + m.text() + " with "
                        + m.fds().length + " descriptors");
            }
            out.put(m.text().substring(3), m.fds()[0]);
        }
        return out;
    }

    @Override
    public synchronized void put(String name, int fd) throws IOException {
        DescriptorStore.checkName(name);
        kept.put(name, fd);
        try {
            ensureHolder();
            request("PUT " + name, fd);
        } catch (IOException first) {
            // the holder died between our requests: a new one gets everything
            drop();
            ensureHolder();
            for (var e : kept.entrySet()) {
                request("PUT " + e.getKey(), e.getValue());
            }
        }
    }

    @Override
    public synchronized void remove(String name) throws IOException {
        kept.remove(name);
        if (conn == null && !connectExisting()) {
            return;
        }
        try {
            request("DROP " + name);
        } catch (IOException e) {
            drop(); // a holder that is gone holds nothing
        }
    }

    @Override
    public synchronized String describe() {
        return holderPid > 0 ? "holder process " + holderPid : "holder process (not running)";
    }

    private boolean connectExisting() throws IOException {
        if (conn != null) {
            return true;
        }
        if (!Files.exists(socket)) {
            return false;
        }
        try {
            conn = UnixSocket.connect(socket);
        } catch (LinuxException e) {
            if (e.errno() == Linux.ECONNREFUSED || e.errno() == Linux.ENOENT) {
                Files.deleteIfExists(socket); // left by a holder that died
                return false;
            }
            throw e;
        }
        send("HELLO");
        String hello = receive().text();
        String[] w = hello.split(" ");
        if (w.length < 3 || !w[0].equals("HOLDER") || !w[1].equals(Integer.toString(HolderProcess.VERSION))) {
            drop();
            throw new IOException("the process on " + socket + " is not a descriptor holder of version "
                    + HolderProcess.VERSION + " (it said: " + hello + "); stop it, or remove the socket if nothing "
                    + "is attached");
        }
        holderPid = Long.parseLong(w[2]);
        startWatch();
        return true;
    }

    private void ensureHolder() throws IOException {
        if (connectExisting()) {
            return;
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        // a small JVM: it holds descriptors and answers a handful of requests a day (~40 MB resident)
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-Xms4m", "-Xmx16m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-Xss256k", "-XX:ReservedCodeCacheSize=8m", "-XX:MaxMetaspaceSize=32m",
                "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"), HolderProcess.class.getName(),
                socket.toString()));
        Process p = new ProcessBuilder(cmd).redirectInput(new File("/dev/null")).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!connectExisting()) {
            if (!p.isAlive()) {
                throw new IOException("the descriptor holder exited with " + p.exitValue() + " at start; see " + log);
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IOException("the descriptor holder did not listen on " + socket + " within "
                        + START_TIMEOUT.toSeconds() + " s; see " + log);
            }
            try {
                p.waitFor(20, java.util.concurrent.TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while starting the descriptor holder");
            }
        }
        LOG.log(System.Logger.Level.INFO, "descriptor holder started (pid {0})", holderPid);
    }

    /** A second connection that only waits: its end of stream means the holder died. */
    private void startWatch() throws IOException {
        UnixSocket w = UnixSocket.connect(socket);
        w.send("WATCH");
        watch = w;
        Thread.ofPlatform().daemon().name("holder-watch").start(() -> {
            try {
                while (w.receive(64) != null) {
                    // nothing is ever sent on a watch connection
                }
            } catch (IOException ignored) {
                // treated as the holder's death
            }
            w.close(); // only this thread closes it: no other thread can be in a call on its number
            onHolderGone(w);
        });
    }

    private synchronized void onHolderGone(UnixSocket w) {
        if (closed || watch != w) {
            return;
        }
        LOG.log(System.Logger.Level.WARNING, "the descriptor holder (pid {0}) went away; {1} descriptor(s) are kept "
                + "only by this process until a new holder has them", holderPid, kept.size());
        drop();
        if (kept.isEmpty()) {
            return;
        }
        try {
            ensureHolder();
            for (var e : kept.entrySet()) {
                request("PUT " + e.getKey(), e.getValue());
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, "could not start a new descriptor holder: {0}; attached volumes "
                    + "depend on this process alone until the next attach or restart", e.getMessage());
        }
    }

    private void request(String text, int... fds) throws IOException {
        send(text, fds);
        String answer = receive().text();
        if (!answer.equals("OK")) {
            throw new IOException("the descriptor holder answered " + text.split(" ")[0] + " with: " + answer);
        }
    }

    private void send(String text, int... fds) throws IOException {
        conn.send(text, fds);
    }

    private UnixSocket.Message receive() throws IOException {
        UnixSocket.Message m = conn.receive(1024);
        if (m == null) {
            throw new IOException("the descriptor holder closed the connection");
        }
        return m;
    }

    private void drop() {
        if (conn != null) {
            conn.close();
            conn = null;
        }
        if (watch != null) {
            UnixSocket w = watch;
            watch = null;
            w.shutdown(); // its thread wakes up, closes it and sees that it is no longer the watch
        }
        holderPid = -1;
    }

    /** Disconnects; the holder keeps what it holds (that is the point). */
    @Override
    public synchronized void close() {
        closed = true;
        drop();
    }
}
