/**
 * The split-mirror provider (full copies): a mirror kept in step with the volume, split off at a copy's instant and
 * resynchronised in the background. The copies' bookkeeping is the kernel's {@code FileCopies}; design:
 * {@link dev.shadowcopy.provider.mirror.MirrorEngine}.
 *
 * <h2>Locking table</h2>
 * Per 1 MiB region a striped lock (writes and the resync), and the engine's monitor ({@code FileCopies}: the list of
 * copies, and the start of a resync); a region lock is never held while the monitor is taken.
 *
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>write / resync of the same region</td><td>the region's lock: the region is copied either before the write
 *       (which then writes the mirror too) or after it (from the volume)</td></tr>
 *   <tr><td>resync / split or revert (a new mirror file)</td><td>a generation counter stops the old resync thread and
 *       the switch waits for it to end; one resync thread at a time, ever</td></tr>
 *   <tr><td>write / split</td><td>the volume gate: the split (writes held) renames the mirror with no write in
 *       flight</td></tr>
 *   <tr><td>creation / creation, revert, deletion</td><td>the volume's copy-set lock (ManagedVolume) and the engine's
 *       monitor</td></tr>
 * </table>
 */
package dev.shadowcopy.provider.mirror;
