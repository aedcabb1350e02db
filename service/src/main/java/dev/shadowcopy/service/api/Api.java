package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.image.repository.RepositoryException;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.backup.Backups;
import dev.shadowcopy.service.backup.RepositoryAccess;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.http.Exchange;
import dev.shadowcopy.service.http.HttpServer;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.PreviousVersions;
import dev.shadowcopy.service.ops.Sessions;
import dev.shadowcopy.service.ops.ShadowCopies;
import dev.shadowcopy.service.ops.Status;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.ops.Writers;
import dev.shadowcopy.device.VolumeException;

/**
 * The HTTP/JSON API on {@code shadowcopy.sock}: a route table ({@link Routes}) filled by one class per resource,
 * each calling the service's role objects. Paths are under {@code /v1}; bodies and answers are JSON (snake_case);
 * errors are {@code {"error":{"code","hresult","message","retryable","writer"}}} with the status of the
 * {@link VssError}. docs/service.md lists every route. Every route asks {@link ApiAccess} where it takes a volume,
 * a path, or a session or writer id (docs/service.md, "Security model").
 */
public final class Api implements HttpServer.Handler {
    private final Routes routes = new Routes();

    /** The role objects the resources call. */
    public record Roles(Volumes volumes, ShadowCopies shadows, Sessions sessions, Writers writers, Backups backups,
                        Status status, Catalog catalog, EventLog events, PreviousVersions previous) {}

    /** @param access who may do what (docs/service.md, "Security model") */
    public Api(Roles roles, ApiAccess access) {
        Render render = new Render(roles.volumes(), roles.shadows(), roles.previous());
        new ServiceResource(roles.status(), roles.volumes(), roles.events()).register(routes);
        new VolumesResource(roles.volumes(), access, render).register(routes);
        new ShadowsResource(roles.shadows(), access, render).register(routes);
        new SessionsResource(roles.sessions(), roles.volumes(), roles.catalog(), access, render).register(routes);
        new WritersResource(roles.writers(), access).register(routes);
        new BackupsResource(roles.backups(), access).register(routes);
        new SchedulesResource(roles.previous().scheduler(), access).register(routes);
        new VersionsResource(roles.previous().versions(), access).register(routes);
        new SharesResource(roles.previous(), access).register(routes);
    }

    @Override
    public void handle(Exchange ex) throws Exception {
        routes.dispatch(new Call(ex));
    }

    /** Maps failures to the error JSON; unexpected ones keep their message (they are our bugs to see). */
    public static Exchange.Answer error(Throwable t) {
        VssError e;
        String writer = null;
        if (t instanceof ServiceException se) {
            e = se.error();
            writer = se.writer();
        } else if (t instanceof VolumeException ve) {
            e = VssError.of(ve.code());
        } else if (t instanceof RepositoryException re) {
            e = RepositoryAccess.translate(re).error();
        } else if (t instanceof IllegalArgumentException) {
            e = VssError.INVALID_ARGUMENT;
        } else {
            e = VssError.UNEXPECTED;
        }
        ObjectNode o = Json.object();
        ObjectNode err = o.putObject("error");
        err.put("code", e.vssName());
        err.put("hresult", e.hresult());
        err.put("message", t.getMessage() == null ? t.toString() : t.getMessage());
        err.put("retryable", e.retryable());
        err.put("writer", writer);
        return new Exchange.Answer(e.httpStatus(), Json.bytes(o));
    }
}
