package dev.shadowcopy.writer;

/** A writer's state as VSS numbers it ({@code VSS_WRITER_STATE}); shown by {@code list writers}. */
public enum WriterState {
    UNKNOWN(0, "Unknown"),
    STABLE(1, "Stable"),
    WAITING_FOR_FREEZE(2, "Waiting for freeze"),
    WAITING_FOR_THAW(3, "Waiting for thaw"),
    WAITING_FOR_POST_SNAPSHOT(4, "Waiting for post-snapshot"),
    WAITING_FOR_BACKUP_COMPLETE(5, "Waiting for backup complete"),
    FAILED_AT_IDENTIFY(6, "Failed at identify"),
    FAILED_AT_PREPARE_BACKUP(7, "Failed at prepare backup"),
    FAILED_AT_PREPARE_SNAPSHOT(8, "Failed at prepare snapshot"),
    FAILED_AT_FREEZE(9, "Failed at freeze"),
    FAILED_AT_THAW(10, "Failed at thaw"),
    FAILED_AT_POST_SNAPSHOT(11, "Failed at post-snapshot"),
    FAILED_AT_BACKUP_COMPLETE(12, "Failed at backup complete"),
    FAILED_AT_PRE_RESTORE(13, "Failed at pre-restore"),
    FAILED_AT_POST_RESTORE(14, "Failed at post-restore"),
    FAILED_AT_BACKUPSHUTDOWN(15, "Failed at backup shutdown");

    private final int code;
    private final String label;

    WriterState(int code, String label) {
        this.code = code;
        this.label = label;
    }

    public int code() {
        return code;
    }

    /** vssadmin's wording, e.g. {@code [1] Stable}. */
    public String label() {
        return "[" + code + "] " + label;
    }

    public boolean failed() {
        return code >= 6;
    }
}
