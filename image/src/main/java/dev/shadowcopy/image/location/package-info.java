/**
 * Where a repository is: {@link dev.shadowcopy.image.location.RepositoryLocation} turns {@code --repo} (a directory or
 * {@code s3://BUCKET/PREFIX}) into a backend and opens, creates or initialises the repository there. The CLI and the
 * daemon take a location and never care which kind it is. No state, no locks.
 */
package dev.shadowcopy.image.location;
