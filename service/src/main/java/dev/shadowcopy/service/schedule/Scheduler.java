package dev.shadowcopy.service.schedule;

import dev.shadowcopy.platform.Storage;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Collectors;

/**
 * Runs schedules: at each elapse of its calendar a schedule makes one shadow copy set of its volumes (or one
 * image backup), then applies its keep rules to its own points. Windows' "Configure Shadow Copies", snapper's
 * timeline and a systemd timer with {@code Persistent=true} in one role.
 *
 * <p><b>A run</b>, in this order: (1) the session is opened and its id, with the elapse served, is published
 * in {@code schedules.json} — durable before the set is made, so every copy a run makes is known to be the
 * schedule's, also after a crash; (2) at a volume's limit (64 client-accessible copies, or its maximum) the
 * schedule's own oldest unprotected copy of it is deleted, never another's; (3) the set is made as any
 * requester's (writers, FIFREEZE, limits); (4) retention deletes the schedule's copies that no keep rule keeps,
 * never protected ones; (5) the result is published. A failure at any step is an event ({@code
 * schedule-failed}) and the result {@code failed}; the next elapse runs as planned.
 *
 * <p><b>Missed runs.</b> The elapse served is recorded when a run starts. At start, a schedule whose next elapse
 * after that (or after its creation) has passed runs once, however many elapses were missed (systemd's {@code
 * Persistent=true}). A run that outlasts the following elapses does not queue them: the next one is the first
 * elapse after the run began.
 *
 * <p><b>Locking.</b> {@code runLock} serialises runs (scheduled and manual) and is held for a whole run; the
 * monitor of this object guards {@code schedules} and the file, and is never held while waiting for
 * {@code runLock} (order: runLock, then the monitor). The loop thread waits on the monitor until the next
 * elapse or a change.
 */
public final class Scheduler implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Scheduler.class.getName());
    /** The label of a scheduled backup: {@code schedule:NAME}. */
    public static final String LABEL_PREFIX = "schedule:";

    private final SchedulesFile file;
    private final ScheduleHost host;
    private final ZoneId zone;
    private final ReentrantLock runLock = new ReentrantLock();
    private final Map<String, Schedule> schedules = new TreeMap<>();
    private final Thread loop;
    private boolean closed;

    /** What one run did. */
    public record RunResult(String schedule, boolean ok, String set, List<String> copies, String backup,
                            List<String> rotated, List<String> deleted, List<String> kept, String error) {}

    private Scheduler(SchedulesFile file, ScheduleHost host, ZoneId zone) {
        this.file = file;
        this.host = host;
        this.zone = zone;
        this.loop = Thread.ofPlatform().daemon().name("scheduler").unstarted(this::runLoop);
    }

    /** Loads {@code STATE/schedules.json} and starts the loop; missed runs run first. */
    public static Scheduler start(Path stateDir, Storage storage, ScheduleHost host) throws IOException {
        Scheduler s = new Scheduler(new SchedulesFile(stateDir, storage), host, ZoneId.systemDefault());
        for (Schedule x : s.file.load(p -> host.event("schedules-unreadable", "error", p, Map.of()))) {
            s.schedules.put(x.name(), x);
        }
        s.loop.start();
        return s;
    }

    // ------------------------------------------------------------------ definitions

    /** Adds a schedule; refused if the name is taken. Durable on return. */
    public Schedule add(String name, List<String> volumes, String calendar, String keep, String repository,
                        boolean verify) throws IOException {
        Schedule s = new Schedule(name, volumes, calendar, keep, repository, verify, Instant.now(), null, null, null,
                null);
        if (s.due() == null) {
            throw new IllegalArgumentException("calendar '" + calendar + "' never elapses (no such date before 2200)");
        }
        synchronized (this) {
            if (schedules.containsKey(name)) {
                throw new IllegalArgumentException("a schedule named " + name + " exists already (schedule remove "
                        + name + " first)");
            }
            Map<String, Schedule> next = new TreeMap<>(schedules);
            next.put(name, s);
            file.publish(List.copyOf(next.values()));
            schedules.put(name, s);
            notifyAll();
        }
        host.event("schedule-added", "info", "schedule " + name + " added: " + (s.backup() ? "backup of " : "copies of ")
                + String.join(",", volumes) + " at '" + s.calendar() + "', keep " + s.keep(), Map.of("schedule", name));
        return s;
    }

    /**
     * Removes a schedule after any run in progress. Its copies (or backups) stay, as ordinary ones: removing a
     * timer deletes no data.
     */
    public Schedule remove(String name) throws IOException {
        lockRuns();
        try {
            Schedule s;
            synchronized (this) {
                s = get(name);
                Map<String, Schedule> next = new TreeMap<>(schedules);
                next.remove(name);
                file.publish(List.copyOf(next.values()));
                schedules.remove(name);
                notifyAll();
            }
            host.event("schedule-removed", "info", "schedule " + name + " removed; its copies stay",
                    Map.of("schedule", name));
            return s;
        } finally {
            runLock.unlock();
        }
    }

    public synchronized Schedule get(String name) {
        Schedule s = schedules.get(name);
        if (s == null) {
            throw new java.util.NoSuchElementException("no schedule named " + name + " (see 'shadowcopy schedule list')");
        }
        return s;
    }

    /** A schedule and what it holds now, consistent between runs. */
    public record View(Schedule schedule, Instant next, List<String> copies) {}

    /**
     * Every schedule with its next elapse and its copies. Waits up to 30 s for a run in progress, so that counts
     * are settled; a longer run (a backup) is listed as it is meanwhile.
     */
    public List<View> list() throws IOException {
        boolean locked;
        try {
            locked = runLock.tryLock(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for a scheduled run to end");
        }
        try {
            List<Schedule> all;
            synchronized (this) {
                all = List.copyOf(schedules.values());
            }
            List<ScheduleHost.Copy> copies = host.copies();
            List<View> out = new ArrayList<>();
            for (Schedule s : all) {
                Set<String> runs = Set.copyOf(s.runs());
                out.add(new View(s, s.due(), copies.stream().filter(c -> runs.contains(c.session()))
                        .sorted(Comparator.comparing(ScheduleHost.Copy::created)).map(ScheduleHost.Copy::id).toList()));
            }
            return out;
        } finally {
            if (locked) {
                runLock.unlock();
            }
        }
    }

    /** The schedule whose run made a set in {@code session}, if any (for {@code list shadows}). */
    public synchronized Optional<String> scheduleOfSession(String session) {
        if (session == null) {
            return Optional.empty();
        }
        return schedules.values().stream().filter(s -> s.runs().contains(session)).map(Schedule::name).findFirst();
    }

    // ------------------------------------------------------------------ runs

    /** Runs {@code name} now (schedule run NAME); the calendar is not moved. */
    public RunResult runNow(String name) throws IOException {
        get(name);
        lockRuns();
        try {
            return runLocked(name, null);
        } finally {
            runLock.unlock();
        }
    }

    private void lockRuns() throws IOException {
        try {
            if (!runLock.tryLock(15, TimeUnit.MINUTES)) {
                throw new IOException("a scheduled run has been going on for 15 minutes; try again later");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for a scheduled run to end");
        }
    }

    private void runLoop() {
        boolean first = true;
        while (true) {
            List<String> due = new ArrayList<>();
            synchronized (this) {
                if (closed) {
                    return;
                }
                Instant now = Instant.now();
                Instant earliest = null;
                for (Schedule s : schedules.values()) {
                    Instant d = s.due();
                    if (d == null) {
                        continue;
                    }
                    if (!d.isAfter(now)) {
                        due.add(s.name());
                    } else if (earliest == null || d.isBefore(earliest)) {
                        earliest = d;
                    }
                }
                if (due.isEmpty()) {
                    long ms = earliest == null ? 60_000 : Math.max(1, Duration.between(now, earliest).toMillis());
                    try {
                        wait(Math.min(ms, 60_000)); // until the next elapse, or a change (notifyAll)
                    } catch (InterruptedException e) {
                        return;
                    }
                    first = false;
                    continue;
                }
            }
            for (String name : due) {
                runLock.lock();
                try {
                    Schedule s;
                    synchronized (this) {
                        s = schedules.get(name);
                        if (closed) {
                            return;
                        }
                    }
                    if (s == null || s.due() == null || s.due().isAfter(Instant.now())) {
                        continue; // removed, or run meanwhile
                    }
                    if (first) {
                        host.event("schedule-missed", "warning", "schedule " + name + " missed its run at " + s.due()
                                + " while the service was not running; running it once now", Map.of("schedule", name));
                    }
                    runLocked(name, Instant.now());
                } catch (RuntimeException | IOException e) {
                    LOG.log(System.Logger.Level.ERROR, "schedule {0}: {1}", name, e.toString());
                } finally {
                    runLock.unlock();
                }
            }
            first = false;
        }
    }

    /**
     * One run under {@code runLock}. {@code elapse} is the instant recorded as served (null for a manual run,
     * which does not move the calendar).
     */
    private RunResult runLocked(String name, Instant elapse) throws IOException {
        Schedule s = get(name);
        List<String> rotated = new ArrayList<>();
        String session = null;
        try {
            if (s.backup()) {
                s = update(name, x -> elapse == null ? x : x.withLastRun(elapse));
                // a backup that fails its verification throws: the run fails and retention keeps every older point
                String id = host.backup(s.volumes(), s.repository(), LABEL_PREFIX + name, s.verify());
                List<String> deleted = backupRetention(s);
                RunResult r = new RunResult(name, true, null, List.of(), id, List.of(), deleted, List.of(), null);
                finish(name, r);
                return r;
            }
            session = host.openSession("schedule " + name);
            String sid = session;
            // write-ahead: the run's session is durable before any copy of it exists
            s = update(name, x -> {
                List<String> runs = new ArrayList<>(liveRuns(x));
                runs.add(sid);
                Schedule y = x.withRuns(runs);
                return elapse == null ? y : y.withLastRun(elapse);
            });
            rotate(s, rotated);
            List<String> copies = host.createSet(session, s.volumes());
            host.closeSession(session);
            session = null;
            List<String> deleted = new ArrayList<>();
            List<String> kept = new ArrayList<>();
            retention(get(name), deleted, kept);
            String set = host.copies().stream().filter(c -> copies.contains(c.id())).map(ScheduleHost.Copy::setId)
                    .findFirst().orElse(null);
            RunResult r = new RunResult(name, true, set, copies, null, rotated, deleted, kept, null);
            finish(name, r);
            return r;
        } catch (IOException | RuntimeException e) {
            if (session != null) {
                host.closeSession(session);
            }
            String msg = e.getMessage() == null ? e.toString() : e.getMessage();
            host.event("schedule-failed", "error", "schedule " + name + " failed: " + msg + " (the next run is at "
                    + Optional.ofNullable(get(name).due()).map(Instant::toString).orElse("never") + ")",
                    Map.of("schedule", name));
            update(name, x -> x.withResult("failed", msg));
            return new RunResult(name, false, null, List.of(), null, rotated, List.of(), List.of(), msg);
        }
    }

    private void finish(String name, RunResult r) throws IOException {
        Schedule s = update(name, x -> x.withRuns(liveRuns(x)).withResult("ok", null));
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("schedule", name);
        d.put("copies", r.copies());
        d.put("deleted", r.deleted());
        if (r.backup() != null) {
            d.put("backup", r.backup());
        }
        host.event("schedule-run", "info", "schedule " + name + (r.backup() != null ? " made backup " + r.backup()
                : " made set " + r.set() + " (" + String.join(", ", r.copies()) + ")")
                + (r.rotated().isEmpty() ? "" : "; rotated out " + r.rotated())
                + (r.deleted().isEmpty() ? "" : "; retention (" + s.keep() + ") deleted " + r.deleted()), d);
    }

    /** At a volume's limit, deletes the schedule's own oldest unprotected copies of it until one more fits. */
    private void rotate(Schedule s, List<String> rotated) throws IOException {
        for (String volume : s.volumes()) {
            while (host.room(volume) <= 0) {
                Set<String> runs = Set.copyOf(s.runs());
                Optional<ScheduleHost.Copy> oldest = host.copies().stream()
                        .filter(c -> c.volume().equals(volume) && runs.contains(c.session()) && !c.protectedNow())
                        .min(Comparator.comparing(ScheduleHost.Copy::created));
                if (oldest.isEmpty()) {
                    throw new IOException("volume " + volume + " is at its limit of shadow copies and schedule "
                            + s.name() + " has no unprotected copy of it to rotate out (the others are not its own, "
                            + "or are protected); delete some copies of " + volume);
                }
                host.delete(oldest.get().id(), "rotated out by schedule " + s.name() + " at the copy limit");
                rotated.add(oldest.get().id());
            }
        }
    }

    /** Deletes the schedule's sets that no keep rule keeps; protected copies stay whatever the rules say. */
    private void retention(Schedule s, List<String> deleted, List<String> keptIds) throws IOException {
        Set<String> runs = Set.copyOf(s.runs());
        List<ScheduleHost.Copy> mine = host.copies().stream().filter(c -> runs.contains(c.session())).toList();
        Map<String, Instant> sets = new LinkedHashMap<>();
        mine.forEach(c -> sets.merge(c.setId(), c.created(), (a, b) -> a.isBefore(b) ? a : b));
        List<KeepRules.Point> points = sets.entrySet().stream().map(e -> new KeepRules.Point(e.getKey(), e.getValue()))
                .toList();
        Set<String> keep = s.rules().keep(points, zone).keySet();
        for (ScheduleHost.Copy c : mine) {
            if (keep.contains(c.setId())) {
                keptIds.add(c.id());
            } else if (c.protectedNow()) {
                keptIds.add(c.id()); // protection wins over retention
            } else {
                host.delete(c.id(), "by the retention of schedule " + s.name() + " (keep " + s.keep() + ")");
                deleted.add(c.id());
            }
        }
    }

    private List<String> backupRetention(Schedule s) throws IOException {
        String repo = s.repository();
        List<ScheduleHost.BackupPoint> points = host.backups(repo, LABEL_PREFIX + s.name());
        Set<String> keep = s.rules().keep(points.stream().map(p -> new KeepRules.Point(p.id(), p.created())).toList(),
                zone).keySet();
        List<String> delete = points.stream().map(ScheduleHost.BackupPoint::id).filter(id -> !keep.contains(id))
                .toList();
        if (!delete.isEmpty()) {
            host.deleteBackups(repo, delete);
        }
        return delete;
    }

    /** The runs of {@code s} whose sessions still have copies (the others can own nothing any more). */
    private List<String> liveRuns(Schedule s) {
        Set<String> sessions = host.copies().stream().map(ScheduleHost.Copy::session).collect(Collectors.toSet());
        return new ArrayList<>(new LinkedHashSet<>(s.runs().stream().filter(sessions::contains).toList()));
    }

    private Schedule update(String name, java.util.function.UnaryOperator<Schedule> change) throws IOException {
        synchronized (this) {
            Schedule s = schedules.get(name);
            if (s == null) {
                throw new java.util.NoSuchElementException("schedule " + name + " was removed");
            }
            Schedule n = change.apply(s);
            Map<String, Schedule> next = new TreeMap<>(schedules);
            next.put(name, n);
            file.publish(List.copyOf(next.values()));
            schedules.put(name, n);
            notifyAll();
            return n;
        }
    }

    /** Stops the loop after the run in progress (which finishes: a half-made run would be aborted anyway). */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            notifyAll();
        }
        try {
            loop.join(TimeUnit.MINUTES.toMillis(2));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
