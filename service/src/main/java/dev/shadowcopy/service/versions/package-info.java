/**
 * Previous versions: a file's versions across shadow copies, the service's own copy mounts, Samba shares.
 *
 * <p>Locking table — operations that may run at once, and what makes them safe:
 *
 * <table>
 *   <caption>Concurrent operations</caption>
 *   <tr><th>operations</th><th>mechanism</th></tr>
 *   <tr><td>{@code versions} listing/restore and the idle keeper</td>
 *       <td>{@code CopyMounts}' monitor while a mount is made or taken away; a reader holds a {@code Lease}, and
 *       the keeper never unexposes a leased copy; the unmount itself is never forced (a busy mount stays)</td></tr>
 *   <tr><td>two listings of copies of the same volume</td>
 *       <td>the monitor: the second finds the first's mount and leases it too</td></tr>
 *   <tr><td>{@code delete shadows} and a reader of its automatic mount</td>
 *       <td>the delete unmounts lazily and aborts the overlay's connection: the reader gets I/O errors for a
 *       version that no longer exists, the delete never waits on smbd or a listing</td></tr>
 *   <tr><td>explicit {@code expose} and an automatic mount of the same copy</td>
 *       <td>the expose unexposes the automatic mount first (ShadowCopies.expose), and the keeper leaves copies exposed
 *       elsewhere alone</td></tr>
 *   <tr><td>{@code samba-share} add/remove and the keeper</td>
 *       <td>{@code SambaShares} is synchronized and published whole; the keeper reads a snapshot of it</td></tr>
 * </table>
 */
package dev.shadowcopy.service.versions;
