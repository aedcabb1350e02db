package dev.shadowcopy.service.http;

import dev.shadowcopy.service.peer.Caller;
import jdk.net.UnixDomainPrincipal;

/** Decides who may use the API, from the peer credentials the kernel gives for each accepted connection. */
public interface Gate {
    /** The caller {@code peer} is, or a 403 {@link HttpException} saying why it may not connect. */
    Caller admit(UnixDomainPrincipal peer) throws HttpException;
}
