/**
 * The redirect-on-write software provider: redirected first writes, the commit queue, the background merge back into
 * the base, and instant revert. The rest is the kernel's ({@code provider.store}); design: {@link
 * dev.shadowcopy.provider.row.RowEngine}.
 *
 * <h2>Locking table</h2>
 * The kernel's order, with the {@code CommitQueue}'s {@code commitLock} after {@code roomLock} (every commit takes
 * {@code roomLock} first: a commit may have to make room, and making room commits) and its {@code pendingLock} as a
 * leaf; the merger's {@code running} lock is taken before any engine lock.
 *
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>write / commit (flush, periodic, creation)</td><td>a write queues its LIVE record under {@code pendingLock};
 *       a commit swaps the queue out under it, syncs the data, then appends and syncs the records under
 *       {@code commitLock}</td></tr>
 *   <tr><td>a chunk's move / freeing the slot it left</td><td>the LIVE record is queued under {@code registryLock},
 *       where frees are decided, so a free is never committed ahead of the move that made it possible</td></tr>
 *   <tr><td>merge / write of the same chunk</td><td>the merge takes the chunk's stripe (and {@code metaGate} shared)
 *       per chunk and re-checks that the chunk has not moved; a merge for room only try-locks stripes</td></tr>
 *   <tr><td>merge / copy creation</td><td>the merge starts no batch, and cuts one short, while a creation is between
 *       prepare and its end (its base writes would lengthen the commit the creation waits for)</td></tr>
 *   <tr><td>merge record queued / in-place write's TOUCH</td><td>a chunk's epoch only grows ({@code RowState.applyLive}
 *       keeps the larger), so replaying the TOUCH before the LIVE record does not take it back</td></tr>
 *   <tr><td>revert / merge</td><td>the revert takes every stripe, so no merge lands a chunk between its rewrite of the
 *       live locations and its own check</td></tr>
 *   <tr><td>commit / checkpoint</td><td>the checkpoint commits under {@code metaGate} exclusive before it rotates;
 *       commits take the gate shared</td></tr>
 *   <tr><td>a failed sync / anything later</td><td>the commit queue records the failure; every later operation is
 *       refused until the volume is reopened and recovered from its journal</td></tr>
 *   <tr><td>close / background commit and merge</td><td>both are stopped (the merge waited for) before the final
 *       commit and checkpoint</td></tr>
 * </table>
 */
package dev.shadowcopy.provider.row;
