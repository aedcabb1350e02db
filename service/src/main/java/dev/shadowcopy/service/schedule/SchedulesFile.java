package dev.shadowcopy.service.schedule;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.service.json.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

/**
 * {@code STATE/schedules.json}: every schedule with its run state. The whole file is one JSON object,
 * {@code {"version": 1, "schedules": [SCHEDULE, ...]}}, each schedule as {@link Schedule}'s fields in snake_case
 * ({@code name, volumes, calendar, keep, repository, created, last_run, last_result, last_error, runs}); times
 * are ISO-8601 instants. Unknown fields are ignored (a newer minor version may add some); another version is
 * refused, never rewritten.
 *
 * <p>Durability: {@link #publish} goes through {@link Storage#publish} — written to a temporary name, synced,
 * renamed over the file, the directory synced — so a crash leaves the old or the new file, whole. A file that
 * cannot be read is moved aside (never overwritten) and the service starts with no schedules, saying so.
 */
final class SchedulesFile {
    static final String NAME = "schedules.json";
    static final int VERSION = 1;

    record Data(int version, List<Entry> schedules) {}

    /** One schedule as stored: {@link Schedule} with its instants as text. */
    record Entry(String name, List<String> volumes, String calendar, String keep, String repository, Boolean verify,
                 String created, String lastRun, String lastResult, String lastError, List<String> runs) {
        static Entry of(Schedule s) {
            return new Entry(s.name(), s.volumes(), s.calendar(), s.keep(), s.repository(), s.verify() ? true : null,
                    s.created().toString(),
                    s.lastRun() == null ? null : s.lastRun().toString(), s.lastResult(), s.lastError(), s.runs());
        }

        Schedule schedule() {
            // verify is absent in files written before it existed, and for schedules without it
            return new Schedule(name, volumes, calendar, keep, repository, Boolean.TRUE.equals(verify),
                    Instant.parse(created),
                    lastRun == null ? null : Instant.parse(lastRun), lastResult, lastError, runs);
        }
    }

    private final Path file;
    private final Storage storage;

    SchedulesFile(Path stateDir, Storage storage) {
        this.file = stateDir.resolve(NAME);
        this.storage = storage;
    }

    Path path() {
        return file;
    }

    /** The schedules, or an empty list if there is no file yet. {@code problem} receives why a file was set aside. */
    List<Schedule> load(java.util.function.Consumer<String> problem) throws IOException {
        if (!Files.exists(file)) {
            return List.of();
        }
        try {
            Data d = Json.MAPPER.readValue(file.toFile(), new TypeReference<Data>() {});
            if (d.version() != VERSION) {
                throw new IOException("version " + d.version() + " is not " + VERSION);
            }
            return d.schedules() == null ? List.of() : d.schedules().stream().map(Entry::schedule).toList();
        } catch (IOException | RuntimeException e) {
            Path aside = file.resolveSibling(NAME + ".unreadable-" + Instant.now().toEpochMilli());
            Files.move(file, aside);
            problem.accept(file + " could not be read (" + String.valueOf(e.getMessage()).lines().findFirst()
                    .orElse("") + "); it was moved to " + aside + " and no schedule runs until they are added again");
            return List.of();
        }
    }

    /** Replaces the file with {@code schedules}; durable on return. */
    void publish(List<Schedule> schedules) throws IOException {
        byte[] bytes = Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(new Data(VERSION,
                schedules.stream().map(Entry::of).toList()));
        storage.publish(file, bytes); // tmp, fsync, rename, directory fsync
    }
}
