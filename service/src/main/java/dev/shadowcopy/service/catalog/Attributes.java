package dev.shadowcopy.service.catalog;

import java.util.ArrayList;
import java.util.List;

/** VSS's shadow copy attribute bits ({@code VSS_VOLSNAP_ATTR_*}). */
public final class Attributes {
    public static final int PERSISTENT = 0x1;
    public static final int NO_AUTORECOVERY = 0x2;
    public static final int CLIENT_ACCESSIBLE = 0x4;
    public static final int NO_AUTO_RELEASE = 0x8;
    public static final int NO_WRITERS = 0x10;
    public static final int TRANSPORTABLE = 0x20;
    public static final int NOT_SURFACED = 0x40;
    public static final int NOT_TRANSACTED = 0x80;
    public static final int HARDWARE_ASSISTED = 0x10000;
    public static final int DIFFERENTIAL = 0x20000;
    public static final int PLEX = 0x40000;
    public static final int IMPORTED = 0x80000;
    public static final int EXPOSED_LOCALLY = 0x100000;
    public static final int EXPOSED_REMOTELY = 0x200000;
    public static final int AUTORECOVER = 0x400000;

    private static final int[] BITS = {PERSISTENT, NO_AUTORECOVERY, CLIENT_ACCESSIBLE, NO_AUTO_RELEASE, NO_WRITERS,
        TRANSPORTABLE, NOT_SURFACED, NOT_TRANSACTED, HARDWARE_ASSISTED, DIFFERENTIAL, PLEX, IMPORTED, EXPOSED_LOCALLY,
        EXPOSED_REMOTELY, AUTORECOVER};
    private static final String[] NAMES = {"Persistent", "No auto-recovery", "Client-accessible", "No auto release",
        "No writers", "Transportable", "Not surfaced", "Not transacted", "Hardware assisted", "Differential", "Plex",
        "Imported", "Exposed locally", "Exposed remotely", "Auto-recovered"};

    private Attributes() {}

    /** vssadmin's wording: {@code Persistent, Client-accessible, No auto release, Differential}. */
    public static List<String> names(int attributes) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < BITS.length; i++) {
            if ((attributes & BITS[i]) != 0) {
                out.add(NAMES[i]);
            }
        }
        return out;
    }
}
