package dev.shadowcopy.platform;

/** How a {@link StorageFile} is opened. */
public enum OpenMode {
    /** Read only; the file must exist. */
    READ,
    /** Read and write; the file must exist. */
    READ_WRITE,
    /** Read and write; created (mode 0600) if missing. */
    CREATE,
    /** Read and write; must not exist yet. */
    CREATE_NEW
}
