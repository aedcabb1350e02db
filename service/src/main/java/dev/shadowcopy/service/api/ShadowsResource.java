package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.ShadowCopies;
import dev.shadowcopy.service.peer.Caller;

/**
 * {@code /v1/shadows}: list, show, delete (by copy, set, volume or all), protect, revert, expose, unexpose.
 * Operators see and act on copies of their volumes only; deleting every copy and reverting are the administrator's.
 */
final class ShadowsResource {
    private final ShadowCopies shadows;
    private final ApiAccess access;
    private final Render render;

    ShadowsResource(ShadowCopies shadows, ApiAccess access, Render render) {
        this.shadows = shadows;
        this.access = access;
        this.render = render;
    }

    void register(Routes routes) {
        routes.get("/v1/shadows", this::list)
                .post("/v1/shadows/delete", this::deleteSelected)
                .get("/v1/shadows/{id}", c -> c.ok(render.shadow(visible(c.caller(), c.param("id")))))
                .delete("/v1/shadows/{id}", this::deleteOne)
                // an action on a copy: the body is read and the copy must be visible before the action is looked up
                .guard("POST", "/v1/shadows/{id}/{action}", c -> {
                    c.body();
                    visible(c.caller(), c.param("id"));
                })
                .post("/v1/shadows/{id}/protect", c -> c.ok(render.shadow(shadows.protect(c.param("id"),
                        Call.instant(Call.text(c.body(), "until", true), "until")))))
                .post("/v1/shadows/{id}/revert", this::revert)
                .post("/v1/shadows/{id}/expose", c -> c.ok(render.shadow(shadows.expose(c.param("id"),
                        access.mountPoint(c.caller(), Call.text(c.body(), "mount", true))))))
                .post("/v1/shadows/{id}/unexpose", this::unexpose);
    }

    private void list(Call c) throws Exception {
        String vol = c.query("volume");
        String set = c.query("set");
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (ShadowRecord s : shadows.list()) {
            if ((vol == null || vol.equals(s.volume())) && (set == null || set.equals(s.setId()))
                    && access.sees(c.caller(), s.volume())) {
                a.add(render.shadow(s));
            }
        }
        c.ok(Render.wrap("shadows", a));
    }

    private void deleteSelected(Call c) throws Exception {
        JsonNode b = c.body();
        ShadowCopies.Selector sel = new ShadowCopies.Selector(Call.text(b, "shadow", false), Call.text(b, "set", false),
                Call.text(b, "volume", false), b.path("oldest").asBoolean(false), b.path("all").asBoolean(false));
        mayDelete(c.caller(), sel);
        c.ok(Render.deleteResult(shadows.delete(sel)));
    }

    private void deleteOne(Call c) throws Exception {
        ShadowCopies.Selector sel = ShadowCopies.Selector.shadow(c.param("id"));
        mayDelete(c.caller(), sel);
        c.ok(Render.deleteResult(shadows.delete(sel)));
    }

    private void revert(Call c) throws Exception {
        access.admin(c.caller(), "reverting a volume");
        shadows.revert(c.param("id"), c.body().path("force").asBoolean(false));
        c.ok(Json.object().put("reverted_to", c.param("id")));
    }

    private void unexpose(Call c) throws Exception {
        shadows.unexpose(c.param("id"), c.body().path("force").asBoolean(false));
        c.ok(Json.object().put("unexposed", c.param("id")));
    }

    /** The copy {@code id} names, if {@code c} may see its volume. */
    private ShadowRecord visible(Caller c, String id) throws ServiceException {
        ShadowRecord s = shadows.get(id);
        access.volume(c, s.volume());
        return s;
    }

    /** Refuses an operator a delete that could reach copies of volumes not given to operators. */
    private void mayDelete(Caller c, ShadowCopies.Selector sel) throws ServiceException {
        if (c.isAdmin()) {
            return;
        }
        if (sel.all()) {
            access.admin(c, "deleting every shadow copy");
        }
        if (sel.volume() != null) {
            access.volume(c, sel.volume());
        }
        if (sel.shadow() != null) {
            visible(c, sel.shadow());
        }
        if (sel.set() != null) {
            for (ShadowRecord s : shadows.ofSet(sel.set())) {
                access.volume(c, s.volume());
            }
        }
    }
}
