package dev.shadowcopy.service.error;

/**
 * The errors the service reports, named and numbered as VSS names them (vss.h, {@code 0x8004xxxx}), with
 * the HTTP status the API answers with and whether retrying can help. Admins searching for a VSS code find
 * the same words here; scripts can match either the name or the number.
 */
public enum VssError {
    BAD_STATE(0x80042301, 409, false, "the operation is not valid in the current state"),
    UNEXPECTED(0x80042302, 500, false, "unexpected error"),
    INVALID_ARGUMENT(0x80070057, 400, false, "invalid argument"),
    PROVIDER_NOT_REGISTERED(0x80042304, 404, false, "no such provider"),
    PROVIDER_VETO(0x80042306, 500, true, "the provider refused"),
    OBJECT_NOT_FOUND(0x80042308, 404, false, "not found"),
    VOLUME_NOT_SUPPORTED(0x8004230C, 422, false, "no provider supports the volume"),
    OBJECT_ALREADY_EXISTS(0x8004230D, 409, false, "already exists"),
    VOLUME_NOT_SUPPORTED_BY_PROVIDER(0x8004230E, 422, false, "the provider does not support the volume"),
    UNEXPECTED_PROVIDER_ERROR(0x8004230F, 500, true, "the provider failed"),
    INVALID_XML_DOCUMENT(0x80042311, 400, false, "invalid XML document"),
    MAXIMUM_NUMBER_OF_VOLUMES_REACHED(0x80042312, 422, false, "too many volumes in the set"),
    FLUSH_WRITES_TIMEOUT(0x80042313, 504, true, "flushing writes timed out"),
    HOLD_WRITES_TIMEOUT(0x80042314, 504, true, "holding writes timed out"),
    UNEXPECTED_WRITER_ERROR(0x80042315, 500, true, "a writer failed unexpectedly"),
    SNAPSHOT_SET_IN_PROGRESS(0x80042316, 409, true, "another shadow copy set is being created"),
    MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED(0x80042317, 422, false, "too many shadow copies"),
    WRITER_INFRASTRUCTURE(0x80042318, 500, true, "writer infrastructure error"),
    WRITER_NOT_RESPONDING(0x80042319, 504, false, "a writer is not responding"),
    UNSUPPORTED_CONTEXT(0x8004231B, 422, false, "unsupported context"),
    VOLUME_IN_USE(0x8004231D, 409, true, "the volume is in use"),
    INSUFFICIENT_STORAGE(0x8004231F, 507, false, "not enough shadow storage"),
    REVERT_IN_PROGRESS(0x80042325, 409, true, "a revert is in progress"),
    SNAPSHOT_NOT_IN_SET(0x8004232B, 404, false, "the shadow copy is not in the set"),
    PROTECTED(0x80070005, 423, false, "the shadow copy is protected"),
    /** The caller's role does not allow the request (docs/service.md, "Security model"). */
    ACCESS_DENIED(0x80070005, 403, false, "access denied"),
    MAXIMUM_SESSIONS_REACHED(0x8004231E, 429, true, "too many concurrent backup sessions"),
    WRITERERROR_INCONSISTENTSNAPSHOT(0x800423F0, 409, false, "a writer needs more volumes in the set"),
    WRITERERROR_OUTOFRESOURCES(0x800423F1, 503, true, "a writer ran out of resources"),
    WRITERERROR_TIMEOUT(0x800423F2, 504, true, "a writer timed out"),
    WRITERERROR_RETRYABLE(0x800423F3, 503, true, "a writer failed; retrying can help"),
    WRITERERROR_NONRETRYABLE(0x800423F4, 500, false, "a writer failed; retrying will not help"),
    AUTORECOVERY_FAILED(0x800423FB, 500, false, "auto-recovery of the shadow copy failed"),
    RESYNC_IN_PROGRESS(0x800423FF, 409, true, "a mirror resynchronisation is in progress");

    private final int hresult;
    private final int httpStatus;
    private final boolean retryable;
    private final String meaning;

    VssError(int hresult, int httpStatus, boolean retryable, String meaning) {
        this.hresult = hresult;
        this.httpStatus = httpStatus;
        this.retryable = retryable;
        this.meaning = meaning;
    }

    /** The error an engine failure means to a requester; {@link #UNEXPECTED} for codes with no VSS name. */
    public static VssError of(dev.shadowcopy.device.VolumeException.Code code) {
        return switch (code) {
            case OBJECT_NOT_FOUND -> OBJECT_NOT_FOUND;
            case OBJECT_ALREADY_EXISTS -> OBJECT_ALREADY_EXISTS;
            case BAD_STATE -> BAD_STATE;
            case MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED -> MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED;
            case HOLD_WRITES_TIMEOUT -> HOLD_WRITES_TIMEOUT;
            case INSUFFICIENT_STORAGE -> INSUFFICIENT_STORAGE;
            case VOLUME_IN_USE -> VOLUME_IN_USE;
            case INVALID_ARGUMENT -> INVALID_ARGUMENT;
            case CORRUPT, FAILED -> UNEXPECTED;
            case RESYNC_IN_PROGRESS -> RESYNC_IN_PROGRESS;
        };
    }

    /** The VSS name, e.g. {@code VSS_E_SNAPSHOT_SET_IN_PROGRESS}. */
    public String vssName() {
        if (this == INVALID_ARGUMENT) {
            return "E_INVALIDARG";
        }
        if (this == PROTECTED || this == ACCESS_DENIED) {
            return "E_ACCESSDENIED";
        }
        return "VSS_E_" + name();
    }

    public String hresult() {
        return String.format("0x%08X", hresult);
    }

    public int httpStatus() {
        return httpStatus;
    }

    public boolean retryable() {
        return retryable;
    }

    public String meaning() {
        return meaning;
    }
}
