package dev.shadowcopy.writer;

import dev.shadowcopy.service.error.ServiceException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * A writer that is an executable in the hooks directory, called as {@code HOOK EVENT} for every event (like
 * qemu-guest-agent's fsfreeze hooks, which see {@code freeze} and {@code thaw}). The hook learns the rest
 * from its environment: {@code SHADOWCOPY_EVENT}, {@code SHADOWCOPY_SET_ID}, {@code SHADOWCOPY_VOLUMES}
 * (comma-separated), {@code SHADOWCOPY_CONTEXT}, {@code SHADOWCOPY_BACKUP_TYPE},
 * {@code SHADOWCOPY_SHADOW_COPIES} ({@code vol=id,…}) and {@code SHADOWCOPY_DEADLINE} (epoch seconds).
 *
 * <p>Exit 0 is success; 75 ({@code EX_TEMPFAIL}) a retryable failure; 69 ({@code EX_UNAVAILABLE}) out of
 * resources; 65 ({@code EX_DATAERR}) an inconsistent shadow copy (more volumes needed); anything else a
 * non-retryable failure. For {@code identify}, output starting with {@code <} is the writer metadata
 * document. A hook that outlives its deadline is killed with its whole process tree. At most
 * {@link #MAX_OUTPUT} bytes of output are kept; the last line of it goes into the writer's status.
 */
public final class HookWriter implements Writer {
    public static final int MAX_OUTPUT = 64 * 1024;
    private static final System.Logger LOG = System.getLogger(HookWriter.class.getName());

    private final Path executable;
    private final String name;
    private volatile String lastOutput = "";

    public HookWriter(Path executable) {
        this.executable = executable.toAbsolutePath();
        this.name = "hook:" + executable.getFileName();
    }

    /** The executables of a hooks directory, in name order (dotfiles and editor backups skipped). */
    public static List<HookWriter> scan(Path dir) throws IOException {
        if (dir == null || !Files.isDirectory(dir)) {
            return List.of();
        }
        try (var s = Files.list(dir)) {
            return s.filter(p -> {
                String n = p.getFileName().toString();
                return !n.startsWith(".") && !n.endsWith("~") && !n.endsWith(".rpmsave") && !n.endsWith(".dpkg-old")
                        && Files.isRegularFile(p) && Files.isExecutable(p);
            }).sorted().map(HookWriter::new).collect(Collectors.toList());
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String kind() {
        return "hook";
    }

    public Path executable() {
        return executable;
    }

    /** The output of the last call (bounded). */
    public String lastOutput() {
        return lastOutput;
    }

    @Override
    public WriterMetadata identify(Duration timeout) throws WriterException, InterruptedException {
        EventContext ctx = new EventContext(null, List.of(), "", "", Map.of(), Instant.now().plus(timeout), null, Map.of());
        String out = run(WriterEvent.IDENTIFY, ctx);
        String trimmed = out.trim();
        if (trimmed.startsWith("<")) {
            try {
                return WriterMetadata.parse(trimmed);
            } catch (ServiceException e) {
                throw new WriterException(WriterFailure.NONRETRYABLE, "hook " + executable + " printed invalid "
                        + "metadata: " + e.getMessage());
            }
        }
        return WriterMetadata.minimal(name);
    }

    @Override
    public void handle(WriterEvent event, EventContext context) throws WriterException, InterruptedException {
        run(event, context);
    }

    private String run(WriterEvent event, EventContext ctx) throws WriterException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(executable.toString(), event.wireName());
        pb.redirectErrorStream(true);
        pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        Map<String, String> env = pb.environment();
        env.put("SHADOWCOPY_EVENT", event.wireName());
        env.put("SHADOWCOPY_SET_ID", ctx.setId() == null ? "" : ctx.setId().toString());
        env.put("SHADOWCOPY_VOLUMES", String.join(",", ctx.volumes()));
        env.put("SHADOWCOPY_CONTEXT", ctx.context());
        env.put("SHADOWCOPY_BACKUP_TYPE", ctx.backupType());
        env.put("SHADOWCOPY_SHADOW_COPIES", ctx.shadowCopies().entrySet().stream().sorted(Map.Entry.comparingByKey())
                .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(",")));
        env.put("SHADOWCOPY_DEADLINE", Long.toString(ctx.deadline().getEpochSecond()));
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new WriterException(WriterFailure.NONRETRYABLE, "hook " + executable + " could not be started: "
                    + e.getMessage());
        }
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        Thread reader = Thread.ofVirtual().start(() -> drain(p.getInputStream(), captured));
        long waitMs = Math.max(0, Duration.between(Instant.now(), ctx.deadline()).toMillis());
        boolean done;
        try {
            done = p.waitFor(waitMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            killTree(p);
            throw e;
        }
        if (!done) {
            killTree(p);
            reader.join(2000);
            lastOutput = text(captured);
            throw new WriterException(WriterFailure.TIMEOUT, "hook " + executable.getFileName() + " " + event.wireName()
                    + " did not finish within " + waitMs + " ms and was killed" + tail(lastOutput));
        }
        reader.join(2000);
        lastOutput = text(captured);
        int rc = p.exitValue();
        if (rc == 0) {
            return lastOutput;
        }
        WriterFailure f = switch (rc) {
            case 75 -> WriterFailure.RETRYABLE;
            case 69 -> WriterFailure.OUT_OF_RESOURCES;
            case 65 -> WriterFailure.INCONSISTENT_SNAPSHOT;
            default -> WriterFailure.NONRETRYABLE;
        };
        throw new WriterException(f, "hook " + executable.getFileName() + " " + event.wireName() + " exited with "
                + rc + tail(lastOutput));
    }

    private static void drain(InputStream in, ByteArrayOutputStream out) {
        byte[] buf = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buf)) > 0) {
                synchronized (out) {
                    int keep = Math.min(n, MAX_OUTPUT - out.size());
                    if (keep > 0) {
                        out.write(buf, 0, keep);
                    }
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "reading hook output: {0}", e.toString());
        }
    }

    private static String text(ByteArrayOutputStream out) {
        synchronized (out) {
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    private static String tail(String output) {
        String t = output.strip();
        if (t.isEmpty()) {
            return "";
        }
        int nl = t.lastIndexOf('\n');
        String last = nl >= 0 ? t.substring(nl + 1) : t;
        return ": " + (last.length() > 300 ? last.substring(0, 300) + "…" : last);
    }

    /** Kills the hook and everything it started (a hook that hangs usually hangs in a child). */
    static void killTree(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
