package dev.shadowcopy.service.sequence;

import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.util.Locale;

/**
 * VSS's shadow copy contexts: each is an OR of {@link Attributes} bits and decides persistence, auto-release
 * and whether writers take part.
 */
public enum Context {
    BACKUP(0x00, "backup"),
    FILE_SHARE_BACKUP(0x10, "file-share-backup"),
    NAS_ROLLBACK(0x19, "nas-rollback"),
    APP_ROLLBACK(0x09, "app-rollback"),
    CLIENT_ACCESSIBLE(0x1D, "client-accessible"),
    CLIENT_ACCESSIBLE_WRITERS(0x0D, "client-accessible-writers");

    private final int value;
    private final String wireName;

    Context(int value, String wireName) {
        this.value = value;
        this.wireName = wireName;
    }

    public int value() {
        return value;
    }

    public String wireName() {
        return wireName;
    }

    public boolean persistent() {
        return (value & Attributes.PERSISTENT) != 0;
    }

    public boolean autoRelease() {
        return (value & Attributes.NO_AUTO_RELEASE) == 0;
    }

    public boolean writers() {
        return (value & Attributes.NO_WRITERS) == 0;
    }

    public boolean clientAccessible() {
        return (value & Attributes.CLIENT_ACCESSIBLE) != 0;
    }

    /**
     * Parses a context as admins write it: our names ({@code client-accessible}), VSS's
     * ({@code VSS_CTX_NAS_ROLLBACK}, {@code NAS_ROLLBACK}), the number ({@code 0x19}), or diskshadow's
     * {@code persistent} (= app-rollback), {@code persistent nowriters} (= nas-rollback), {@code nopersistent} /
     * {@code volatile} (= backup) and {@code volatile nowriters} (= file-share-backup).
     */
    public static Context parse(String text) throws ServiceException {
        String t = text.trim().toLowerCase(Locale.ROOT).replace('_', '-').replaceAll("\\s+", " ");
        if (t.startsWith("vss-ctx-")) {
            t = t.substring(8);
        }
        switch (t) {
            case "persistent" -> { return APP_ROLLBACK; }
            case "persistent nowriters", "persistent no-writers" -> { return NAS_ROLLBACK; }
            case "nopersistent", "volatile", "non-persistent" -> { return BACKUP; }
            case "nopersistent nowriters", "volatile nowriters" -> { return FILE_SHARE_BACKUP; }
            case "clientaccessible" -> { return CLIENT_ACCESSIBLE; }
            case "clientaccessible writers", "clientaccessiblewriters" -> { return CLIENT_ACCESSIBLE_WRITERS; }
            default -> { }
        }
        for (Context c : values()) {
            if (c.wireName.equals(t)) {
                return c;
            }
        }
        if (t.matches("0x[0-9a-f]{1,8}|[0-9]{1,10}")) {
            long v = t.startsWith("0x") ? Long.parseLong(t.substring(2), 16) : Long.parseLong(t);
            for (Context c : values()) {
                if (c.value == v) {
                    return c;
                }
            }
            if (v == 0xFFFFFFFFL) {
                throw new ServiceException(VssError.UNSUPPORTED_CONTEXT, "context ALL (0xFFFFFFFF) is only valid for "
                        + "queries and deletes, not for creating shadow copies");
            }
        }
        throw new ServiceException(VssError.UNSUPPORTED_CONTEXT, "unknown context '" + text + "'; use one of backup, "
                + "file-share-backup, nas-rollback, app-rollback, client-accessible, client-accessible-writers, "
                + "persistent, nopersistent");
    }
}
