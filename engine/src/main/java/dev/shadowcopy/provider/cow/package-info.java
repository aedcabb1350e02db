/**
 * The copy-on-write software provider: epochs, preservation, shadow storage, journal, checkpoints,
 * recovery. Design and durability order: {@link dev.shadowcopy.provider.cow.CowEngine} and docs/engine.md.
 *
 * <h2>Locking table</h2>
 * Locks are taken in this order: volume gate (ManagedVolume) → chunk stripe locks (ascending) →
 * {@code metaGate} → {@code roomLock} → {@code registryLock} → leaf locks (index, registry, diff area,
 * journal append, group sync). Reads of copies take only the copy's read pin and leaf locks.
 *
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>write / write, same chunk</td><td>the chunk's stripe lock from the preserve decision to the
 *       origin write; rewrites need none (no metadata)</td></tr>
 *   <tr><td>write / shadow copy commit</td><td>the volume gate: commit holds it exclusively, so a write is
 *       entirely before or after the instant</td></tr>
 *   <tr><td>write / read of a copy</td><td>lock-free: epoch read, live read, epoch re-read; the index entry is
 *       published before the epoch moves</td></tr>
 *   <tr><td>write / delete of a copy</td><td>deletion is durable before the copy leaves the live set;
 *       {@code registryLock} makes "is this record still needed" and live-set changes atomic</td></tr>
 *   <tr><td>read of a copy / delete of that copy</td><td>the copy's readers lock: deletion waits for running
 *       reads and refuses new ones</td></tr>
 *   <tr><td>record append-sync-apply / checkpoint</td><td>{@code metaGate}: shared for the sequence, exclusive
 *       for rotation and capture</td></tr>
 *   <tr><td>two writers needing room</td><td>{@code roomLock}: one releases the oldest copy the owner does not
 *       keep, the other re-checks (journal full: retries its append) before releasing anything</td></tr>
 *   <tr><td>making room / a requested delete</td><td>room-making waits (bounded) for a copy in
 *       {@code DELETING} to be gone before it picks one, so it does not release a newer copy in its
 *       place</td></tr>
 *   <tr><td>slot reuse / punch of freed slots</td><td>slots being punched are busy until the punch is done</td></tr>
 *   <tr><td>revert / anything</td><td>the volume gate held exclusively for the whole revert</td></tr>
 *   <tr><td>close / background tasks</td><td>checkpoint scheduler and shadow storage preparation are stopped
 *       (and waited for) before files close</td></tr>
 * </table>
 */
package dev.shadowcopy.provider.cow;
