package dev.shadowcopy.writer;

import dev.shadowcopy.service.error.VssError;
import java.util.Locale;

/**
 * Why a writer failed, as VSS's {@code VSS_E_WRITERERROR_*} codes say it. Writers report the first four
 * kinds themselves; the service sets {@link #TIMEOUT} when a writer missed its deadline and
 * {@link #NOT_RESPONDING} when its process went away.
 */
public enum WriterFailure {
    NONE(null, "No error"),
    RETRYABLE(VssError.WRITERERROR_RETRYABLE, "Retryable error"),
    NONRETRYABLE(VssError.WRITERERROR_NONRETRYABLE, "Non-retryable error"),
    INCONSISTENT_SNAPSHOT(VssError.WRITERERROR_INCONSISTENTSNAPSHOT, "Inconsistent shadow copy"),
    OUT_OF_RESOURCES(VssError.WRITERERROR_OUTOFRESOURCES, "Out of resources"),
    TIMEOUT(VssError.WRITERERROR_TIMEOUT, "Timed out"),
    NOT_RESPONDING(VssError.WRITER_NOT_RESPONDING, "Not responding");

    private final VssError error;
    private final String label;

    WriterFailure(VssError error, String label) {
        this.error = error;
        this.label = label;
    }

    /** The error a requester sees, or null for {@link #NONE}. */
    public VssError error() {
        return error;
    }

    public String label() {
        return label;
    }

    /** The word an external writer or a hook uses: {@code retryable}, {@code inconsistent-snapshot}, … */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Parses a writer's answer; unknown words are a non-retryable failure (the writer said it failed). */
    public static WriterFailure parse(String text) {
        if (text == null || text.isBlank()) {
            return NONRETRYABLE;
        }
        for (WriterFailure f : values()) {
            if (f.wireName().equalsIgnoreCase(text.trim()) || f.name().equalsIgnoreCase(text.trim())) {
                return f == NONE ? NONRETRYABLE : f;
            }
        }
        return NONRETRYABLE;
    }
}
