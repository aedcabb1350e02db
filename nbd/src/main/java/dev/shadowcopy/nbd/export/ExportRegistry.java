package dev.shadowcopy.nbd.export;

import java.io.IOException;
import java.util.List;

/** What the server can export. Looked up on every request for an export, so nothing is ever stale. */
public interface ExportRegistry {

    /** A listed export. */
    record Listing(String name, String description) {}

    /** Every export, for NBD_OPT_LIST. */
    List<Listing> list();

    /** Opens an export for a connection, or returns null if there is none by that name. */
    Export open(String name) throws IOException;
}
