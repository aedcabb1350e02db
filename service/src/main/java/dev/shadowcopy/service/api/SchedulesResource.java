package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.schedule.Schedule;
import dev.shadowcopy.service.schedule.Scheduler;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code /v1/schedules}: shadow copy sets (or image backups) on a calendar, with retention. The administrator's
 * only: a schedule defines what the service does on its own.
 *
 * <pre>
 * GET    /v1/schedules                      every schedule, its next run and its copies
 * POST   /v1/schedules                      {"name","volumes","calendar","keep","repository","verify"}
 * DELETE /v1/schedules/{name}               (its copies stay)
 * POST   /v1/schedules/{name}/run           run now; the run's result
 * </pre>
 */
final class SchedulesResource {
    private final Scheduler scheduler;
    private final ApiAccess access;

    SchedulesResource(Scheduler scheduler, ApiAccess access) {
        this.scheduler = scheduler;
        this.access = access;
    }

    void register(Routes routes) {
        routes.guardBelow("/v1/schedules", c -> access.admin(c.caller(), "scheduling shadow copies"))
                .get("/v1/schedules", Call.objectErrors(this::list))
                .post("/v1/schedules", Call.objectErrors(this::add))
                .delete("/v1/schedules/{name}", Call.objectErrors(c -> c.ok(Json.object()
                        .put("removed", scheduler.remove(c.param("name")).name()))))
                // a failed run is a result, not an API error
                .post("/v1/schedules/{name}/run", Call.objectErrors(c -> c.ok(Json.MAPPER.valueToTree(
                        scheduler.runNow(c.param("name"))))));
    }

    private void list(Call c) throws Exception {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (Scheduler.View v : scheduler.list()) {
            ObjectNode o = schedule(v.schedule());
            o.put("next_run", v.next() == null ? null : v.next().toString());
            v.copies().forEach(o.putArray("copies")::add);
            a.add(o);
        }
        c.ok(Render.wrap("schedules", a));
    }

    private void add(Call c) throws Exception {
        JsonNode b = c.body();
        List<String> volumes = new ArrayList<>();
        b.path("volumes").forEach(v -> volumes.add(v.asText()));
        String repo = Call.text(b, "repository", false);
        boolean verify = b.path("verify").asBoolean(false); // schedules are the admin's (guard above), as is --deep
        Schedule added = scheduler.add(Call.text(b, "name", true), volumes, Call.text(b, "calendar", true),
                Call.text(b, "keep", true), repo == null ? null : access.repositoryLocation(c.caller(), repo), verify);
        ObjectNode o = schedule(added);
        o.put("next_run", added.due() == null ? null : added.due().toString());
        c.ok(201, o);
    }

    private static ObjectNode schedule(Schedule s) {
        ObjectNode o = Json.object().put("name", s.name());
        s.volumes().forEach(o.putArray("volumes")::add);
        o.put("calendar", s.calendar()).put("keep", s.keep()).put("repository", s.repository()).put("verify", s.verify())
                .put("created", s.created().toString())
                .put("last_run", s.lastRun() == null ? null : s.lastRun().toString())
                .put("last_result", s.lastResult()).put("last_error", s.lastError());
        return o;
    }
}
