/**
 * The backup repository's storage: content-addressed chunks, blobs (encoding, encryption), keys, the config, the
 * {@link dev.shadowcopy.image.repository.RepositoryBackend} that keeps the objects (a directory through
 * {@link dev.shadowcopy.platform.Storage}, or S3 in {@code image.repository.s3}), and what orders concurrent users:
 * the repository lock in a directory, leases, claims and the collector's pending generation on object storage. The
 * layout and what is durable when are in docs/backup.md. Backup points (manifests, indexes) are the layer above,
 * {@code image.manifest}.
 *
 * <h2>Locking table</h2>
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>backup, restore, verify, export, serve / each other</td><td>{@link
 *       dev.shadowcopy.image.repository.RepositoryLock} shared: they only add chunks (a temporary name renamed over
 *       the chunk's: two writers of one chunk write the same bytes) and read</td></tr>
 *   <tr><td>prune, garbage collection, delete / anything</td><td>the lock exclusive: a sweep never removes a chunk
 *       a running backup has just decided to reuse</td></tr>
 *   <tr><td>threads of one process / each other</td><td>the lock's fair read-write lock per repository; POSIX record
 *       locks belong to the process, so one file lock is held for all of its threads</td></tr>
 *   <tr><td>two processes</td><td>a POSIX record lock on {@code DIR/lock}, released by the kernel when its holder
 *       dies (on a simulated disk in tests: the threads' lock only)</td></tr>
 *   <tr><td>object storage: any operations, on any hosts / each other</td><td>no lock. Each holds a {@link
 *       dev.shadowcopy.image.repository.Lease} (written before it reads anything, rewritten every minute); a
 *       collection marks into {@link dev.shadowcopy.image.repository.Generation} {@code gc/pending}, lists the live
 *       leases after publishing it and sweeps only once they have all ended; an operation that began after the mark
 *       claims a marked chunk in its lease before relying on it, then looks at the generation's state (the sweep
 *       writes {@code sweeping} before reading claims: each side writes, then reads the other's)</td></tr>
 *   <tr><td>object storage: two collections</td><td>a collection's lease ({@code gc-…}) is written before it looks
 *       for another's; one that finds one stops</td></tr>
 *   <tr><td>the leases of one repository object / its threads</td><td>a lease serialises its claims and rewrites on
 *       itself; the heartbeat runs on one daemon thread per process</td></tr>
 *   <tr><td>chunk reads and writes / each other</td><td>none needed: positional I/O on separate files; a chunk is
 *       visible only once renamed to its name</td></tr>
 * </table>
 * Waiting is bounded (30 s for the CLI's maintenance commands, 10 min for daemon jobs) and ends with "repository
 * is in use".
 */
package dev.shadowcopy.image.repository;
