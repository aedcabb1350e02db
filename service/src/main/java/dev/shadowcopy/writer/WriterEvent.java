package dev.shadowcopy.writer;

/**
 * The events a writer receives, in the order of a backup. Each knows the state a writer is in after handling
 * it and the failed state if it could not.
 */
public enum WriterEvent {
    IDENTIFY("identify", WriterState.STABLE, WriterState.FAILED_AT_IDENTIFY),
    PREPARE_FOR_BACKUP("prepare-backup", WriterState.STABLE, WriterState.FAILED_AT_PREPARE_BACKUP),
    PREPARE_FOR_SNAPSHOT("prepare-snapshot", WriterState.WAITING_FOR_FREEZE, WriterState.FAILED_AT_PREPARE_SNAPSHOT),
    FREEZE("freeze", WriterState.WAITING_FOR_THAW, WriterState.FAILED_AT_FREEZE),
    THAW("thaw", WriterState.WAITING_FOR_POST_SNAPSHOT, WriterState.FAILED_AT_THAW),
    POST_SNAPSHOT("post-snapshot", WriterState.WAITING_FOR_BACKUP_COMPLETE, WriterState.FAILED_AT_POST_SNAPSHOT),
    BACKUP_COMPLETE("backup-complete", WriterState.STABLE, WriterState.FAILED_AT_BACKUP_COMPLETE),
    /** Sent on any failure of a set; writers must make it idempotent (it may come more than once). */
    ABORT("abort", WriterState.STABLE, null),
    BACKUP_SHUTDOWN("backup-shutdown", WriterState.STABLE, WriterState.FAILED_AT_BACKUPSHUTDOWN);

    private final String wireName;
    private final WriterState after;
    private final WriterState failed;

    WriterEvent(String wireName, WriterState after, WriterState failed) {
        this.wireName = wireName;
        this.after = after;
        this.failed = failed;
    }

    /** The name hooks get as their argument and external writers in {@code "event"}. */
    public String wireName() {
        return wireName;
    }

    public WriterState stateAfter() {
        return after;
    }

    /** The failed state; null for {@link #ABORT}, whose failure does not change what the writer reported. */
    public WriterState failedState() {
        return failed;
    }
}
