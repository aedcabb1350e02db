/**
 * The reflink provider: copies are FICLONE clones of the backing file, made and restored through {@code Storage}. Its
 * only locking is the kernel's {@code FileCopies} (the engine's monitor for the list of copies) and the volume gate
 * (the clone at the instant and a revert run with writes held); the file system serialises the clone itself.
 */
package dev.shadowcopy.provider.reflink;
