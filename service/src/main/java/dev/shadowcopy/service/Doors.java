package dev.shadowcopy.service;

import dev.shadowcopy.service.http.HttpLimits;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * The limits and credentials of the service's doors (API socket, NBD Unix socket, NBD TCP); docs/service.md
 * has them as the "Limits" table, with the flags that set them.
 *
 * @param api                      the API socket's connection limits and timeouts
 * @param nbdMaxConnections        NBD connections open at once, both listeners together
 * @param nbdMaxConnectionsPerUser NBD connections one non-admin Unix peer may hold
 * @param nbdHandshakeTimeout      time an NBD client has to finish negotiating (TLS included)
 * @param nbdTlsCreds              directory with ca-cert.pem, server-cert.pem, server-key.pem: TCP NBD only with
 *                                 TLS and a client certificate signed by that CA; null = none
 * @param nbdTcpInsecure           serve TCP NBD without TLS (anyone who reaches the port reads and writes every
 *                                 volume): only when explicitly asked
 */
public record Doors(HttpLimits api, int nbdMaxConnections, int nbdMaxConnectionsPerUser, Duration nbdHandshakeTimeout,
                    Path nbdTlsCreds, boolean nbdTcpInsecure) {
    public static final Doors DEFAULT = new Doors(HttpLimits.DEFAULT, 128, 32, Duration.ofSeconds(10), null, false);

    public Doors {
        Objects.requireNonNull(api, "api");
        Objects.requireNonNull(nbdHandshakeTimeout, "nbdHandshakeTimeout");
        if (nbdMaxConnections < 1 || nbdMaxConnectionsPerUser < 1) {
            throw new IllegalArgumentException("NBD connection limits must be at least 1");
        }
        if (nbdHandshakeTimeout.toSeconds() < 1) {
            throw new IllegalArgumentException("the NBD handshake timeout must be at least 1 s, was "
                    + nbdHandshakeTimeout);
        }
        if (nbdTlsCreds != null && nbdTcpInsecure) {
            throw new IllegalArgumentException("--nbd-tls-creds and --nbd-tcp-insecure contradict each other; give one");
        }
    }
}
