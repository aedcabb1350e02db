package dev.shadowcopy.nbd.server;

/** TLS on the TCP listener (the Unix socket is local and protected by file permissions: never TLS). */
public enum TlsMode {
    /** No TLS: STARTTLS is refused with NBD_REP_ERR_POLICY (the protocol's NOTLS mode). */
    OFF,
    /** Clients may upgrade with STARTTLS; plaintext is served too (SELECTIVETLS, no TLS-only exports). */
    ALLOWED,
    /** Every option but STARTTLS and ABORT gets NBD_REP_ERR_TLS_REQD until TLS runs (FORCEDTLS). */
    REQUIRED
}
