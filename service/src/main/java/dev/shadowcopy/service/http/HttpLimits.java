package dev.shadowcopy.service.http;

import java.time.Duration;
import java.util.Objects;

/**
 * What one peer can hold of the API socket; each limit keeps a flood or a slow client from denying service to
 * everyone else (docs/service.md, "Limits").
 *
 * @param maxConnections        connections open at once, all users together; an administrator may go
 *                              {@value #ADMIN_RESERVE} beyond it, so that a flood never locks root out
 * @param maxConnectionsPerUser connections one user who is not an administrator may hold
 * @param idleTimeout           a connection waiting for its next request is closed after this, unless a session
 *                              or writer registration is bound to it (its holder waits by design)
 * @param requestTimeout        a request's head and body must arrive within this from its first byte
 *                              (a slowloris or a half-sent request is cut off)
 * @param writeTimeout          the client must take each part of an answer within this
 */
public record HttpLimits(int maxConnections, int maxConnectionsPerUser, Duration idleTimeout,
                         Duration requestTimeout, Duration writeTimeout) {
    public static final int ADMIN_RESERVE = 32;
    public static final HttpLimits DEFAULT = new HttpLimits(512, 64, Duration.ofSeconds(60), Duration.ofSeconds(10),
            Duration.ofSeconds(30));

    public HttpLimits {
        if (maxConnections < 1 || maxConnectionsPerUser < 1) {
            throw new IllegalArgumentException("connection limits must be at least 1 (were " + maxConnections + " and "
                    + maxConnectionsPerUser + ")");
        }
        for (Duration d : new Duration[] {Objects.requireNonNull(idleTimeout), Objects.requireNonNull(requestTimeout),
            Objects.requireNonNull(writeTimeout)}) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("API timeouts must be positive, was " + d);
            }
        }
    }
}
