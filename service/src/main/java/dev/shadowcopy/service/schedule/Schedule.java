package dev.shadowcopy.service.schedule;

import java.time.Instant;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One schedule: what it copies (or backs up), when, what it keeps, and its durable run state.
 *
 * @param name       1..64 of {@code A-Z a-z 0-9 . _ -}, starting with a letter or digit
 * @param volumes    the volumes of each run's set (one set per run: one instant)
 * @param calendar   systemd calendar syntax ({@link CalendarSpec})
 * @param keep       retention ({@link KeepRules}), applied to this schedule's own points only
 * @param repository null for shadow copies; else each run is an image backup into this repository
 * @param verify     a backup schedule only: each backup is proven restorable ({@code backups verify --deep}) before
 *                   retention runs; a backup that fails it fails the run, and retention deletes nothing then
 * @param created    when it was added: the base of the first elapse
 * @param lastRun    the last elapse served (scheduled or caught up at start), or null; a manual run does not
 *                   move it, as {@code systemctl start} does not move a timer
 * @param lastResult {@code ok}, {@code failed}, or null before the first run
 * @param lastError  the last failure's message, or null
 * @param runs       the ids of the sessions of this schedule's runs whose copies may still exist: a copy whose
 *                   set was made in one of these sessions is this schedule's (SetRecord.sessionId). Recorded
 *                   before the set is made (write-ahead), so no crash can leave an untagged copy
 */
public record Schedule(String name, List<String> volumes, String calendar, String keep, String repository,
                       boolean verify, Instant created, Instant lastRun, String lastResult, String lastError, List<String> runs) {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    public Schedule {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("schedule name '" + name + "' must be 1 to 64 letters, digits, '.', '_' "
                    + "or '-', starting with a letter or digit");
        }
        if (volumes == null || volumes.isEmpty()) {
            throw new IllegalArgumentException("schedule " + name + " names no volume (--for VOL[,VOL...])");
        }
        volumes = List.copyOf(volumes);
        if (volumes.stream().distinct().count() != volumes.size()) {
            throw new IllegalArgumentException("schedule " + name + " names a volume twice: " + volumes);
        }
        calendar = CalendarSpec.parse(calendar).text(); // rejects bad syntax at construction
        keep = KeepRules.parse(keep).toString();
        if (created == null) {
            throw new IllegalArgumentException("schedule " + name + " has no creation time");
        }
        runs = runs == null ? List.of() : List.copyOf(runs);
        if (verify && repository == null) {
            throw new IllegalArgumentException("schedule " + name + ": --verify proves backups restorable; it needs "
                    + "--backup --repo");
        }
    }

    public CalendarSpec spec() {
        return CalendarSpec.parse(calendar);
    }

    public KeepRules rules() {
        return KeepRules.parse(keep);
    }

    public boolean backup() {
        return repository != null;
    }

    /** The elapse a run is due at: the first one after the last served (or after creation). */
    public Instant due() {
        return spec().next(lastRun != null ? lastRun : created);
    }

    public Schedule withRuns(List<String> newRuns) {
        return new Schedule(name, volumes, calendar, keep, repository, verify, created, lastRun, lastResult, lastError,
                newRuns);
    }

    public Schedule withLastRun(Instant at) {
        return new Schedule(name, volumes, calendar, keep, repository, verify, created, at, lastResult, lastError, runs);
    }

    public Schedule withResult(String result, String error) {
        return new Schedule(name, volumes, calendar, keep, repository, verify, created, lastRun, result, error, runs);
    }
}
