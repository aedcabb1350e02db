/**
 * Building blocks shared by the software providers' engines (copy-on-write, redirect-on-write, split
 * mirror): the journal (framing, growth, group commit, replay) with a per-engine record codec, the slot
 * store of shadow storage, the registry of shadow copies and their live set, the per-chunk epoch table,
 * and the maintenance threads. Each class documents its own locking; none takes another's lock.
 */
package dev.shadowcopy.provider.store;
