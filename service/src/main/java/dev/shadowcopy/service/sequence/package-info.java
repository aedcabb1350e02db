/**
 * The snapshot sequence: requesters' sessions, and the creation of a shadow copy set with the writers around it
 * (an explicit state machine, {@link dev.shadowcopy.service.sequence.SetPhase}), file-system freezing, auto-recovery.
 *
 * <h2>Locking table</h2>
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>set creation / set creation</td><td>{@code SnapshotSetCreator.creating}, a try-lock: the second is
 *       refused at once with {@code SNAPSHOT_SET_IN_PROGRESS} (retryable), as in VSS — never queued</td></tr>
 *   <tr><td>set creation, backup complete / release of the same session (its connection closed, its lease ran
 *       out)</td><td>the session's {@link dev.shadowcopy.service.sequence.Session#lock()}, held by whoever drives
 *       it: a release waits for the creation to finish or abort; a released session makes no set</td></tr>
 *   <tr><td>holding writes on the set's volumes / another holder</td><td>one thread holds every volume's write gate,
 *       volumes in name order (a fixed order: two holders never deadlock), each hold bounded by what is left of the
 *       commit limit</td></tr>
 *   <tr><td>the btrfs commit thread / the commit deadline</td><td>the {@code ForeignSnapshots} object's monitor
 *       guards what it made and whether it was abandoned; a snapshot finishing after abandonment is deleted by
 *       that thread</td></tr>
 *   <tr><td>writer calls / each other</td><td>each on its own virtual thread under the event's deadline; the
 *       session's state table is synchronised on the session</td></tr>
 *   <tr><td>FIFREEZE / a later set</td><td>{@code frozen.json} durable before the first freeze; a late freeze
 *       (the kernel returned after the deadline) is thawed by its own thread, and new sets touching freezable
 *       file systems are refused until it has</td></tr>
 *   <tr><td>sessions map / open, release, reaper</td><td>a concurrent map; opening is synchronised on the manager
 *       for the 64-session limit</td></tr>
 * </table>
 * Order: a session's lock is taken before the creator's; the catalog's and event log's monitors are taken inside
 * either and never held while calling a volume or a writer.
 */
package dev.shadowcopy.service.sequence;
