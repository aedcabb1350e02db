package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.http.HttpServer;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.Status;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.provider.Providers;
import java.util.Locale;

/** {@code /v1/status} (the service, the caller, the API door's counters), {@code /v1/providers}, {@code /v1/events}. */
final class ServiceResource {
    private final Status status;
    private final Volumes volumes;
    private final EventLog events;

    ServiceResource(Status status, Volumes volumes, EventLog events) {
        this.status = status;
        this.volumes = volumes;
        this.events = events;
    }

    void register(Routes routes) {
        routes.getOnly("/v1/status", c -> c.ok(status(c)))
                .getOnly("/v1/providers", c -> c.ok(Render.wrap("providers", providers())))
                .getOnly("/v1/events", this::events);
    }

    private ObjectNode status(Call c) {
        ObjectNode o = Json.object();
        o.put("state_directory", status.stateDirectory().toString());
        o.put("pid", ProcessHandle.current().pid());
        o.put("started", status.started().toString());
        o.put("volumes", status.volumeCount());
        o.put("shadows", status.shadowCount());
        o.put("sessions", status.sessionCount());
        o.put("creating", status.creating());
        o.put("nbd_socket", status.nbdSocket().toString());
        o.put("caller", c.caller().user()).put("role", c.caller().role().name().toLowerCase(Locale.ROOT));
        HttpServer.Stats a = c.exchange().connection().serverStats();
        o.putObject("api").put("connections", a.open()).put("accepted", a.accepted())
                .put("refused_busy", a.refusedBusy()).put("refused_access", a.refusedAccess())
                .put("timed_out", a.timedOut()).put("accept_failures", a.acceptFailures());
        return o;
    }

    private ArrayNode providers() {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (Providers.Provider p : Providers.ALL) {
            ObjectNode o = a.addObject().put("name", p.name()).put("type", p.type()).put("id", p.id())
                    .put("version", p.version()).put("description", p.description());
            ArrayNode layouts = o.putArray("layouts");
            p.layouts().stream().map(l -> l.shortName()).sorted().forEach(layouts::add);
            ArrayNode attrs = o.putArray("attributes");
            p.attributes().forEach(attrs::add);
            ArrayNode vols = o.putArray("volumes");
            volumes.servedBy(p).forEach(vols::add);
        }
        return a;
    }

    private void events(Call c) throws Exception {
        long after = c.hasQuery("after") ? Call.parseLong(c.query("after"), "after") : 0;
        long limit = c.hasQuery("limit") ? Call.parseLong(c.query("limit"), "limit") : 200;
        if (after < 0 || limit < 1 || limit > 2000) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "events: 'after' must be 0 or more and "
                    + "'limit' 1..2000; were " + after + " and " + limit);
        }
        c.ok(Render.wrap("events", Json.MAPPER.valueToTree(events.since(after, (int) limit))));
    }
}
