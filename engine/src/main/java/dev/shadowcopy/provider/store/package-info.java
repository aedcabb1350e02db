/**
 * The provider kernel: what every software provider does the same way, once. {@link
 * dev.shadowcopy.provider.store.EpochEngine} is the base of the engines that cut time into epochs (copy-on-write,
 * redirect-on-write): the copy lifecycle and its durability, reads of copies ({@link
 * dev.shadowcopy.provider.store.CopyReader}), change tracking ({@link dev.shadowcopy.provider.store.ChangeTracking}),
 * checkpoints ({@link dev.shadowcopy.provider.store.Checkpoints}), the journal (framing, growth, group commit, replay:
 * {@link dev.shadowcopy.provider.store.Journal}, {@link dev.shadowcopy.provider.store.Replay}) with the one codec of
 * the records both journals share ({@link dev.shadowcopy.provider.store.JournalCodec}), stripe locks, the slot store
 * of shadow storage, the registry of copies and their live set, and the maintenance threads. {@link
 * dev.shadowcopy.provider.store.FileCopies} is the base of the providers whose copies are files of their own (reflink,
 * split mirror).
 *
 * <h2>Locking table</h2>
 * An epoch engine takes its locks in this order: volume gate (ManagedVolume) → {@code StripeLocks} (ascending) →
 * {@code Checkpoints.running} (checkpoints only) → {@code metaGate} (shared for every append-sync-apply sequence,
 * exclusive for a checkpoint's rotation and capture) → {@code roomLock} → the engine's commit lock (redirect-on-write)
 * → {@code registryLock} → leaf locks: the registry's lock, a copy's readers lock, the version index, the slot store's
 * lock, the journal's append lock, group syncs. No leaf lock is held while another lock is taken, nor during I/O
 * (group syncs wait for an fdatasync, holding nothing else).
 *
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>two writes of the same chunk</td><td>the chunk's stripe lock, from the decision what to keep to the
 *       origin (or slot) write</td></tr>
 *   <tr><td>write / copy creation's instant</td><td>the volume gate: commit holds it exclusively, so a write is wholly
 *       before or after the instant (in an epoch or the next)</td></tr>
 *   <tr><td>write / read of a copy or of the live volume</td><td>lock-free: the reader locates a run, reads it and
 *       locates it again; writers publish a chunk's new location (or kept version) before they change the old
 *       one</td></tr>
 *   <tr><td>write / deletion of a copy</td><td>the deletion record is durable before the copy leaves the live set;
 *       {@code registryLock} makes "is this version still needed" and live-set changes atomic</td></tr>
 *   <tr><td>read of a copy / its deletion</td><td>the copy's readers lock: deletion waits for running reads and
 *       refuses new ones</td></tr>
 *   <tr><td>record append-sync-apply / checkpoint</td><td>{@code metaGate}: shared for the sequence, exclusive for the
 *       rotation and capture, so no record is durable in the old generation but missing from the image</td></tr>
 *   <tr><td>two checkpoints; checkpoint / close</td><td>{@code Checkpoints.running}; close shuts the scheduler (waiting
 *       for a running one) before its own clean checkpoint</td></tr>
 *   <tr><td>two writers needing room; room / a requested delete</td><td>{@code roomLock}: one releases the oldest copy
 *       the owner does not keep, the other re-checks first; picking the oldest waits (bounded) for copies already
 *       being deleted, so a newer one is not released in their place</td></tr>
 *   <tr><td>release / a copy's creation record being synced</td><td>the release spins until the creation is
 *       {@code COMMITTED} or gone (the creating thread needs no lock the releasing one holds)</td></tr>
 *   <tr><td>slot reuse / punching freed slots / preparing slots</td><td>the slot store: slots being punched are busy,
 *       slots being prepared are outside what allocation hands out</td></tr>
 *   <tr><td>a file-copy engine's list changes (complete, delete, revert) / each other</td><td>the engine's monitor;
 *       reads of a copy take only the open-handle map</td></tr>
 * </table>
 */
package dev.shadowcopy.provider.store;
