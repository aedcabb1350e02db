package dev.shadowcopy.service.schedule;

import java.io.IOException;
import java.time.Instant;
import java.util.List;

/**
 * What the scheduler needs from the service: sets made the way any requester makes them (writers, limits,
 * catalog), deletes through the service's delete path (protection is checked there too), and backups. The
 * daemon's wiring implements it; tests may fake it.
 */
public interface ScheduleHost {

    /** A shadow copy as retention and rotation see it. */
    record Copy(String id, String setId, String session, String volume, Instant created, boolean protectedNow) {}

    /** A backup point as retention sees it. */
    record BackupPoint(String id, Instant created) {}

    /** Every shadow copy the catalog holds, each with the session its set was made in. */
    List<Copy> copies();

    /** How many more copies {@code volume} takes before a limit (64 client-accessible, the volume's maximum). */
    int room(String volume) throws IOException;

    /** Opens the session of one run (persistent, client-accessible copies, with writers); returns its id. */
    String openSession(String owner) throws IOException;

    /** Makes one set of {@code volumes} in the session (retrying a while if another set is being made). */
    List<String> createSet(String session, List<String> volumes) throws IOException;

    /** Ends the session (its copies are persistent and stay). */
    void closeSession(String session);

    /** Deletes one copy through the service's delete path; refused for protected copies. */
    void delete(String copyId, String why) throws IOException;

    /**
     * One image backup of {@code volumes} into {@code repository} (a location: a directory or {@code s3://BUCKET/PREFIX}),
     * labelled; returns the backup id.
     */
    String backup(List<String> volumes, String repository, String label, boolean verify) throws IOException;

    /** The backup points of {@code repository} carrying {@code label}. */
    List<BackupPoint> backups(String repository, String label) throws IOException;

    /** Deletes backup points of {@code repository} (under its exclusive lock). */
    void deleteBackups(String repository, List<String> ids) throws IOException;

    /** Appends an event to the service's log. */
    void event(String type, String level, String message, java.util.Map<String, Object> details);
}
