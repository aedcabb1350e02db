/**
 * Repositories in an S3 bucket ({@code --repo s3://BUCKET/PREFIX}): {@link
 * dev.shadowcopy.image.repository.s3.S3Backend} on the AWS SDK v2 ({@link dev.shadowcopy.image.repository.s3.S3Clients}
 * builds the client from the SDK's environment and profile), and the local {@link
 * dev.shadowcopy.image.repository.s3.ChunkCache} of {@code backups serve}. docs/backup.md, "Repositories on S3".
 *
 * <h2>Locking table</h2>
 * <table>
 *   <caption>Operations that may run at once, and what makes them safe</caption>
 *   <tr><th>pair</th><th>mechanism</th></tr>
 *   <tr><td>chunk uploads / each other</td><td>a pool of upload threads; a semaphore of in-flight bytes bounds
 *       memory; {@code uploadsDone} guards the count of uploads not yet ended, which the barrier waits on</td></tr>
 *   <tr><td>anything / anything on other hosts</td><td>nothing here: the leases and the collector's fence in {@code
 *       image.repository}; every request is idempotent, so the SDK's retries are safe</td></tr>
 *   <tr><td>cache reads / cache writes</td><td>a file is written under a temporary name and renamed: whole or
 *       absent; eviction is synchronized</td></tr>
 * </table>
 */
package dev.shadowcopy.image.repository.s3;
