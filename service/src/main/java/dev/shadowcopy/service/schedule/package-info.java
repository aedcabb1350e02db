/**
 * Schedules: shadow copy sets (or image backups) on a systemd calendar, with retention.
 *
 * <p>Locking table — operations that may run at once, and what makes them safe:
 *
 * <table>
 *   <caption>Concurrent operations</caption>
 *   <tr><th>operations</th><th>mechanism</th></tr>
 *   <tr><td>scheduled run and manual run ({@code schedule run})</td>
 *       <td>{@code Scheduler.runLock}: one run at a time, held for the whole run</td></tr>
 *   <tr><td>run and {@code schedule remove}</td>
 *       <td>remove takes {@code runLock}: a schedule never disappears in the middle of its run</td></tr>
 *   <tr><td>run and {@code schedule add} / list</td>
 *       <td>the Scheduler's monitor guards the map and the file (never held while waiting for {@code runLock});
 *       list waits up to 30 s for {@code runLock} so its counts are settled</td></tr>
 *   <tr><td>run and another requester's set</td>
 *       <td>the set creator's own lock; a run retries a busy creator for 60 s</td></tr>
 *   <tr><td>retention and {@code delete shadows} / protect</td>
 *       <td>deletes go through the service's delete path, which checks protection at the moment of the delete;
 *       a copy deleted meanwhile is simply gone from the next listing</td></tr>
 * </table>
 */
package dev.shadowcopy.service.schedule;
