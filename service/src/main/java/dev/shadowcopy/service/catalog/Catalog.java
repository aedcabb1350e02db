package dev.shadowcopy.service.catalog;

import dev.shadowcopy.platform.Formats;
import com.fasterxml.jackson.core.type.TypeReference;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.function.UnaryOperator;

/**
 * The service's catalog: sets, shadow copy properties and known writers, in {@code catalog.json}.
 *
 * <p>Durability: every change is published whole before the method returns — written to
 * {@code catalog.json.tmp}, {@code fsync}ed, renamed over {@code catalog.json}, and the directory
 * {@code fsync}ed — so after a crash the file is either the old or the new catalog, never a mix. Ordering
 * with the engine: a set is recorded as {@code creating} (with its copy ids) before the provider creates
 * anything, and as {@code created} only after the engine made the copies durable; deletes remove the engine's
 * copy first and the record after. The {@link Reconciler} resolves whatever a crash left between the two.
 *
 * <p>Format: {@code {"version":1,"sets":[…],"copies":[…],"writers":[…]}}, snake_case, the fields of
 * {@link SetRecord}, {@link ShadowRecord} and {@link WriterRecord} with ids and times as text; unchanged since
 * version 1 (the records became typed, their JSON did not).
 *
 * <p>Thread-safety: all methods synchronise on the catalog; publishing happens under that lock (the file is
 * small: a few hundred bytes per copy).
 */
public final class Catalog {
    static final int VERSION = Formats.CATALOG_VERSION;

    /** The file's content. */
    public record Data(int version, List<SetRecord> sets, List<ShadowRecord> copies, List<WriterRecord> writers) {}

    private final Path file;
    private final Map<UUID, SetRecord> sets = new LinkedHashMap<>();
    private final Map<ShadowCopyId, ShadowRecord> copies = new LinkedHashMap<>();
    private final Map<String, WriterRecord> writers = new LinkedHashMap<>();
    private final List<String> problems = new ArrayList<>();

    private Catalog(Path file) {
        this.file = file;
    }

    /**
     * Opens the catalog in {@code dir}. A catalog that cannot be read is moved aside (never overwritten) and
     * reported by {@link #problems()}; the service then starts with an empty one and the reconciler adopts the
     * engine's copies as untracked.
     */
    public static Catalog open(Path dir) throws IOException {
        Catalog c = new Catalog(dir.resolve("catalog.json"));
        Files.deleteIfExists(dir.resolve("catalog.json.tmp"));
        if (Files.exists(c.file)) {
            try {
                Data d = Json.MAPPER.readValue(c.file.toFile(), new TypeReference<Data>() {});
                if (d.version() != VERSION) {
                    throw new IOException("catalog version " + d.version() + " is not " + VERSION);
                }
                d.sets().forEach(s -> c.sets.put(s.id(), s));
                d.copies().forEach(s -> c.copies.put(s.id(), s));
                if (d.writers() != null) {
                    d.writers().forEach(w -> c.writers.put(w.name(), w));
                }
            } catch (IOException | RuntimeException e) {
                Path aside = dir.resolve("catalog.json.corrupt-" + Instant.now().toEpochMilli());
                Files.move(c.file, aside);
                c.problems.add("the catalog could not be read (" + e.getMessage().lines().findFirst().orElse("")
                        + "); it was moved to " + aside + " and the service started with an empty catalog");
            }
        }
        return c;
    }

    /** What went wrong reading the catalog (reported as events by the service). */
    public List<String> problems() {
        return List.copyOf(problems);
    }

    public synchronized void putSet(SetRecord s) throws IOException {
        sets.put(s.id(), s);
        publish();
    }

    /** Records a finished set and its copies in one publish. */
    public synchronized void putCreated(SetRecord s, List<ShadowRecord> created) throws IOException {
        sets.put(s.id(), s);
        created.forEach(r -> copies.put(r.id(), r));
        publish();
    }

    public synchronized Optional<SetRecord> set(UUID id) {
        return Optional.ofNullable(sets.get(id));
    }

    public synchronized List<SetRecord> sets() {
        return List.copyOf(sets.values());
    }

    public synchronized Optional<ShadowRecord> copy(ShadowCopyId id) {
        return Optional.ofNullable(copies.get(id));
    }

    public synchronized List<ShadowRecord> copies() {
        return List.copyOf(copies.values());
    }

    public synchronized void putCopy(ShadowRecord r) throws IOException {
        copies.put(r.id(), r);
        publish();
    }

    public synchronized void updateCopy(ShadowCopyId id, UnaryOperator<ShadowRecord> change) throws IOException {
        ShadowRecord r = copies.get(id);
        if (r != null) {
            copies.put(id, change.apply(r));
            publish();
        }
    }

    /** Removes copy records (after the engine deleted the data), and sets left with no copies. */
    public synchronized void removeCopies(Collection<ShadowCopyId> ids) throws IOException {
        boolean changed = false;
        for (ShadowCopyId id : ids) {
            changed |= copies.remove(id) != null;
        }
        changed |= sets.values().removeIf(s -> s.state() == SetRecord.State.CREATED
                && copies.values().stream().noneMatch(c -> s.id().equals(c.setId())));
        if (changed) {
            publish();
        }
    }

    public synchronized void removeSet(UUID id) throws IOException {
        if (sets.remove(id) != null) {
            publish();
        }
    }

    public synchronized void putWriter(WriterRecord w) throws IOException {
        writers.put(w.name(), w);
        publish();
    }

    public synchronized List<WriterRecord> writers() {
        return List.copyOf(writers.values());
    }

    private void publish() throws IOException {
        byte[] bytes = Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(new Data(VERSION,
                List.copyOf(sets.values()), List.copyOf(copies.values()), List.copyOf(writers.values())));
        LocalStorage.INSTANCE.publish(file, bytes); // tmp, fsync, rename, directory fsync
    }
}
