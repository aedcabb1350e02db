/**
 * What the JDK does not offer: Linux system calls through the foreign-function API (pread/pwrite,
 * fdatasync, fallocate, SEEK_DATA, sync_file_range, FIFREEZE/FITHAW, FICLONE), the storage abstraction the
 * engine's crash tests replace, group commit of fdatasync, and the one way to publish a durable file.
 */
package dev.shadowcopy.platform;
