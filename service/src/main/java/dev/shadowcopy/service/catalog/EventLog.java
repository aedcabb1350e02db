package dev.shadowcopy.service.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/**
 * The service's event log: one JSON object per line in {@code events.log}, rotated to {@code events.log.1} at
 * {@link #ROTATE_BYTES}. Each line is written with one {@code write} and {@code fdatasync}ed before
 * {@link #append} returns, so a refused delete or a writer failure is on disk when the requester hears of it
 * (a crash can at worst leave a torn last line, which {@link #recent} skips). The newest
 * {@link #KEEP_IN_MEMORY} events are also kept in memory for the API.
 */
public final class EventLog implements AutoCloseable {
    public static final long ROTATE_BYTES = 8L << 20;
    static final int KEEP_IN_MEMORY = 2000;
    private static final System.Logger LOG = System.getLogger(EventLog.class.getName());

    private final Path file;
    private FileChannel channel;
    private final Deque<JsonNode> recent = new ArrayDeque<>();
    private long seq;

    public EventLog(Path file) throws IOException {
        this.file = file;
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file)) {
                try {
                    JsonNode n = Json.MAPPER.readTree(line);
                    remember(n);
                    seq = Math.max(seq, n.path("seq").asLong());
                } catch (IOException e) {
                    // a torn last line from a crash: skipped
                }
            }
        }
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
    }

    /** Records an event durably. {@code level}: info, warning, error. */
    public synchronized JsonNode append(String type, String level, String message, Map<String, ?> details) {
        ObjectNode n = Json.object();
        n.put("seq", ++seq);
        n.put("time", Instant.now().toString());
        n.put("type", type);
        n.put("level", level);
        n.put("message", message);
        if (details != null && !details.isEmpty()) {
            n.set("details", Json.MAPPER.valueToTree(details));
        }
        remember(n);
        System.Logger.Level l = switch (level) {
            case "error" -> System.Logger.Level.ERROR;
            case "warning" -> System.Logger.Level.WARNING;
            default -> System.Logger.Level.INFO;
        };
        LOG.log(l, "{0}: {1}", type, message);
        try {
            byte[] line = (Json.text(n) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
            if (channel.size() + line.length > ROTATE_BYTES) {
                rotate();
            }
            ByteBuffer b = ByteBuffer.wrap(line);
            while (b.hasRemaining()) {
                channel.write(b);
            }
            channel.force(false);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, "cannot write the event log {0}: {1}", file, e.toString());
        }
        return n;
    }

    private void rotate() throws IOException {
        channel.force(false);
        channel.close();
        Files.move(file, file.resolveSibling(file.getFileName() + ".1"), StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
        channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    private void remember(JsonNode n) {
        recent.addLast(n);
        while (recent.size() > KEEP_IN_MEMORY) {
            recent.removeFirst();
        }
    }

    /** Events with a sequence number above {@code after}, oldest first, at most {@code limit}. */
    public synchronized List<JsonNode> since(long after, int limit) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode n : recent) {
            if (n.path("seq").asLong() > after) {
                out.add(n);
            }
        }
        return out.size() > limit ? out.subList(out.size() - limit, out.size()) : out;
    }

    @Override
    public synchronized void close() throws IOException {
        channel.close();
    }
}
