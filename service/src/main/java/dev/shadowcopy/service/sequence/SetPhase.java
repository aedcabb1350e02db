package dev.shadowcopy.service.sequence;

/**
 * Where the creation of one shadow copy set is (VSS's DoSnapshotSet with the writers around it). A set enters the
 * phases in this order and no other; each phase is entered before its first side effect, so on a failure the phase
 * says what may have been made and {@link SetAttempt#abort} undoes exactly that (one switch over the phase, latest
 * first). Writerless contexts pass through the writer phases without calling anyone.
 *
 * <pre>
 * RECORDED → GATHERING → PREPARING → FREEZING → FLUSHING → COMMITTING → THAWING → COMPLETING → POST_SNAPSHOT
 *          → RECORDING → CREATED                 (any phase before CREATED → ABORTED)
 * </pre>
 */
public enum SetPhase {
    /** The {@code creating} record (with the copy ids) is durable in the catalog; nothing is made yet. */
    RECORDED,
    /** Identify: the writers that take part are chosen. Undo: Abort to them. */
    GATHERING,
    /** PrepareForBackup, PrepareForSnapshot, and the providers prepare each copy. Undo: pending copies aborted. */
    PREPARING,
    /** Writers freeze; the freeze window runs from here. */
    FREEZING,
    /** FIFREEZE of the set's file systems within the flush limit. Undo: what froze is thawed. */
    FLUSHING,
    /** Writes held on every volume, the instant fixed on each, btrfs snapshots made. Undo: snapshots deleted. */
    COMMITTING,
    /** File systems thawed (always), then writers thaw within the freeze window. */
    THAWING,
    /** Copies completed: durable in the engine. Undo: completed copies deleted. */
    COMPLETING,
    /** Auto-recovery (copies writable, then sealed) and PostSnapshot. */
    POST_SNAPSHOT,
    /** The set and its copies recorded as created in one catalog publish. */
    RECORDING,
    /** Done: the requester gets the set. */
    CREATED,
    /** Undone: no copy, writers told Abort, the session completed. */
    ABORTED;

    /** True for the phases after which nothing changes any more. */
    public boolean finished() {
        return this == CREATED || this == ABORTED;
    }

    /**
     * The transition from this phase to {@code next}: allowed only to the phase right after this one (ABORTED is
     * reached by {@link SetAttempt#abort}, from any phase not finished).
     *
     * @throws IllegalStateException for any other move
     */
    public SetPhase to(SetPhase next) {
        boolean ok = next == ABORTED ? !finished() : !finished() && next != ABORTED && next.ordinal() == ordinal() + 1;
        if (!ok) {
            throw new IllegalStateException("a shadow copy set cannot go from " + this + " to " + next);
        }
        return next;
    }
}
