/**
 * The service's operations, one role object per noun the API and the CLI speak of: {@link
 * dev.shadowcopy.service.ops.Volumes}, {@link dev.shadowcopy.service.ops.ShadowCopies}, {@link
 * dev.shadowcopy.service.ops.Sessions}, {@link dev.shadowcopy.service.ops.Writers}, the service's {@link
 * dev.shadowcopy.service.ops.Status}, schedules, previous versions and Samba shares ({@link
 * dev.shadowcopy.service.ops.PreviousVersions}, whose own locking table is in {@code service.schedule} and {@code
 * service.versions}), and the take-over of attachments and exposures at start. The API's resources
 * call these (never {@code Service}, which only wires them); each either completes or throws a
 * {@link dev.shadowcopy.service.error.ServiceException} that says what, where and what to do.
 *
 * <h2>Locking table</h2>
 * The role objects hold no lock of their own: the catalog and the event log synchronise themselves, the engine
 * serialises what it must per volume, a session's lock orders its set, backup complete and release ({@code
 * service.sequence}), and the attacher its attachments. Two deletes of one copy may race: the second finds no data
 * and drops the record again.
 */
package dev.shadowcopy.service.ops;
