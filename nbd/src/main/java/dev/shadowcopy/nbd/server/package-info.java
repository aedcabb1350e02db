/**
 * The NBD server: listening doors, negotiation (handshake, TLS, peer checks) and transmission of one connection.
 *
 * <h2>Locking table</h2>
 * Locks are taken in this order: a connection's {@code readLock} → its {@code writeLock}; the server's {@code counts}
 * monitor is a leaf (no I/O under it). The block device's own locks are taken with neither held, except that a
 * reply to a finished request is written under {@code writeLock} after the device call returned.
 *
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>two threads of one connection reading requests</td><td>{@code readLock}: one reads a header and its
 *       write payload at a time, lets go, and serves that request while the next thread reads (leader/follower);
 *       at most {@code threadsPerConnection} requests are in progress</td></tr>
 *   <tr><td>two replies of one connection</td><td>{@code writeLock}: each reply is one gathering write under it, so
 *       replies never interleave; they may leave in any order (cookies match them up)</td></tr>
 *   <tr><td>refusing an oversized write / other replies</td><td>the reader holds {@code readLock} and takes
 *       {@code writeLock} for the error reply (the one place both are held, always in that order)</td></tr>
 *   <tr><td>accepting a connection / a connection ending</td><td>the {@code counts} monitor guards the total and
 *       per-user counts (reserve before the greeting, release at the end)</td></tr>
 *   <tr><td>server close / transmissions in flight</td><td>close sets the shutdown flag (new requests get
 *       ESHUTDOWN), lets requests in progress finish, then closes each connection; a connection's socket closes
 *       only after every thread of its team finished the request it holds</td></tr>
 *   <tr><td>negotiation timeout / a slow negotiation</td><td>the timer closes the transport; the connection's
 *       thread sees the closed channel and ends</td></tr>
 *   <tr><td>buffers of several connections</td><td>{@code BufferPool}: lock-free deques per size class</td></tr>
 * </table>
 */
package dev.shadowcopy.nbd.server;
