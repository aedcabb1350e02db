/**
 * The copy-on-write software provider: preservation at first touch, write intents, revert by copying back, and the
 * copy-on-write checkpoint and recovery. The rest (copy lifecycle, reads, tracking, journal, checkpoints) is the
 * kernel's ({@code provider.store}); design and durability order: {@link dev.shadowcopy.provider.cow.CowEngine} and
 * docs/engine.md.
 *
 * <h2>Locking table</h2>
 * The kernel's order ({@code provider.store}); copy-on-write adds no lock of its own.
 *
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>first touch / first touch of the same chunk</td><td>the chunk's stripe lock from the preserve decision to
 *       the origin write; rewrites (chunk already in this epoch) take none: no metadata changes</td></tr>
 *   <tr><td>first touch / read of a copy</td><td>the preserved version and its index entry are published before the
 *       chunk's epoch moves; the reader locates the chunk again after reading the origin</td></tr>
 *   <tr><td>write under an intent / checkpoint</td><td>the intents' marks are set under {@code metaGate} shared after
 *       the intent's sync, and forgotten under it exclusive once the old generation is synced (the intents leave with
 *       it)</td></tr>
 *   <tr><td>journal full / two writers</td><td>{@code roomLock}: the second retries its append before releasing
 *       anything</td></tr>
 *   <tr><td>revert / anything</td><td>the volume gate held exclusively for the whole revert</td></tr>
 *   <tr><td>close / background tasks</td><td>checkpoints, shadow storage preparation and write-back hints are
 *       stopped (and waited for) before files close</td></tr>
 * </table>
 */
package dev.shadowcopy.provider.cow;
