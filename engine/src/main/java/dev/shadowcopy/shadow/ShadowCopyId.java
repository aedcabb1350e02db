package dev.shadowcopy.shadow;

import java.util.Objects;
import java.util.UUID;

/** The identity of one shadow copy: a UUID, printed without braces (VSS prints it in braces). */
public record ShadowCopyId(UUID uuid) implements Comparable<ShadowCopyId> {
    public ShadowCopyId {
        Objects.requireNonNull(uuid, "uuid");
    }

    public static ShadowCopyId random() {
        return new ShadowCopyId(UUID.randomUUID());
    }

    /** Parses {@code 1b4e28ba-2fa1-11d2-883f-0016d3cca427}, with or without VSS braces. */
    public static ShadowCopyId parse(String text) {
        String t = text.strip();
        if (t.startsWith("{") && t.endsWith("}")) {
            t = t.substring(1, t.length() - 1);
        }
        try {
            return new ShadowCopyId(UUID.fromString(t));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a shadow copy id: '" + text
                    + "' (expected a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427)");
        }
    }

    @Override
    public int compareTo(ShadowCopyId o) {
        return uuid.compareTo(o.uuid);
    }

    @Override
    public String toString() {
        return uuid.toString();
    }
}
