/**
 * Managed volumes: the block-device contract, volume definitions and the manager of a state directory.
 *
 * <h2>Locking table</h2>
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>data-path calls / each other</td><td>the volume's {@code WriteGate} held shared; the engine orders
 *       what needs ordering</td></tr>
 *   <tr><td>data-path calls / shadow copy instant</td><td>{@code WriteGate} held exclusively by
 *       {@link dev.shadowcopy.volume.ManagedVolume#holdWrites} (bounded wait: VSS's 10 s)</td></tr>
 *   <tr><td>copy creation / copy creation, revert</td><td>the volume's copy-set lock, held from prepare to
 *       complete or abort by one thread</td></tr>
 *   <tr><td>create, delete, resize of volumes</td><td>the manager's monitor; lookups are lock-free</td></tr>
 *   <tr><td>resize / marking a volume (in)complete</td><td>both publish {@code volume.desc} under the volume's
 *       monitor, each from the other's last state</td></tr>
 *   <tr><td>two processes on one state directory</td><td>a file lock on {@code volumes/.lock}</td></tr>
 * </table>
 */
package dev.shadowcopy.volume;
