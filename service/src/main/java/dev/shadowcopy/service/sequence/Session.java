package dev.shadowcopy.service.sequence;

import dev.shadowcopy.writer.BackupComponents;
import dev.shadowcopy.writer.Writer;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterMetadata;
import dev.shadowcopy.writer.WriterState;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A requester's backup session (VSS's IVssBackupComponents): its context, its writers and their states, and
 * the set it made. It ends when released — explicitly, when the API connection that opened it closes, or
 * when its lease runs out — and then its auto-release copies are deleted and writers get BackupShutdown.
 *
 * <p>Locking: {@link #lock()} is held by whoever drives the session (creating a set, backup complete,
 * release), so a release caused by a dying connection waits for a creation in progress to finish or abort.
 */
public final class Session {
    private final BackupComponents components = new BackupComponents();
    private final Map<String, WriterMetadata> metadata = new java.util.TreeMap<>();
    /** VSS's requester states, reduced to what a client can observe. */
    public enum State { OPEN, SNAPSHOTTED, COMPLETED, RELEASED }

    private final UUID id;
    private final Context context;
    private final String backupType;
    private final Set<String> excludedWriters;
    private final Set<String> verifiedWriters;
    private final String owner;
    private final Instant created = Instant.now();
    private final ReentrantLock lock = new ReentrantLock();
    private final Map<String, WriterStatus> writers = new LinkedHashMap<>();
    private List<Writer> gathered;
    /** The writers that take part in the session's set (a subset of the gathered ones); empty before the set. */
    private List<Writer> participants = List.of();
    private boolean prepared;
    private volatile State state = State.OPEN;
    private volatile Instant leaseUntil;
    private volatile String setId;
    private final List<String> copies = new ArrayList<>();

    public Session(UUID id, Context context, String backupType, Set<String> excludedWriters, Set<String> verifiedWriters,
                   String owner, Instant leaseUntil) {
        this.id = id;
        this.context = context;
        this.backupType = backupType;
        this.excludedWriters = Set.copyOf(excludedWriters);
        this.verifiedWriters = Set.copyOf(verifiedWriters);
        this.owner = owner;
        this.leaseUntil = leaseUntil;
    }

    public UUID id() {
        return id;
    }

    public Context context() {
        return context;
    }

    public String backupType() {
        return backupType;
    }

    public Set<String> excludedWriters() {
        return excludedWriters;
    }

    public Set<String> verifiedWriters() {
        return verifiedWriters;
    }

    public String owner() {
        return owner;
    }

    public Instant created() {
        return created;
    }

    public ReentrantLock lock() {
        return lock;
    }

    public State state() {
        return state;
    }

    public void state(State s) {
        state = s;
    }

    public Instant leaseUntil() {
        return leaseUntil;
    }

    public void renew(Instant until) {
        leaseUntil = until;
    }

    public String setId() {
        return setId;
    }

    public synchronized List<String> copies() {
        return List.copyOf(copies);
    }

    public synchronized void snapshotted(String set, List<String> copyIds) {
        setId = set;
        copies.addAll(copyIds);
        state = State.SNAPSHOTTED;
    }

    public synchronized void forgetCopy(String id) {
        copies.remove(id);
    }

    /** The session's backup components document (what writers record for a restore). */
    public BackupComponents components() {
        return components;
    }

    /** Records the metadata a writer returned from Identify. */
    public synchronized void metadata(String writer, WriterMetadata m) {
        metadata.put(writer, m);
    }

    /** Writer name → its metadata from Identify. */
    public synchronized Map<String, WriterMetadata> metadata() {
        return Map.copyOf(metadata);
    }

    /** The writers gathered (identified) for this session; null before the gather. */
    public List<Writer> gathered() {
        return gathered;
    }

    public void gathered(List<Writer> w) {
        gathered = List.copyOf(w);
    }

    /**
     * The writers taking part in the set: only they get the set's events, BackupComplete and BackupShutdown, and
     * only they are recorded with its copies (VSS: a writer whose components are not in the backup is left out).
     */
    public synchronized List<Writer> participants() {
        return participants;
    }

    public synchronized void participants(List<Writer> w) {
        participants = List.copyOf(w);
    }

    /** The states of the participating writers (GatherWriterStatus, {@link #writerStatus}, lists every writer). */
    public synchronized List<WriterStatus> participantStatus() {
        List<WriterStatus> out = new ArrayList<>();
        for (Writer w : participants) {
            WriterStatus st = writers.get(w.name());
            if (st != null) {
                out.add(st);
            }
        }
        return out;
    }

    public boolean prepared() {
        return prepared;
    }

    public void prepared(boolean p) {
        prepared = p;
    }

    public synchronized void status(Writer w, WriterState state, WriterFailure failure, String message) {
        WriterStatus old = writers.get(w.name());
        WriterFailure f = failure != null ? failure : old != null ? old.failure() : WriterFailure.NONE;
        String m = message != null ? message : old != null ? old.message() : null;
        writers.put(w.name(), new WriterStatus(w.name(), w.kind(), state, f, m));
    }

    public synchronized List<WriterStatus> writerStatus() {
        return List.copyOf(writers.values());
    }
}
