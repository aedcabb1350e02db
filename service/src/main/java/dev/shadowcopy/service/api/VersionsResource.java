package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.versions.Versions;

/**
 * {@code /v1/versions}: the previous versions of a file or directory tree across the shadow copies of its volume,
 * and restoring one. The administrator's only: it reads and writes any file.
 *
 * <pre>
 * POST   /v1/versions                       {"path"}: the distinct versions, and the copies skipped and why
 * POST   /v1/versions/restore               {"path","shadow","to","overwrite"}
 * </pre>
 */
final class VersionsResource {
    private final Versions versions;
    private final ApiAccess access;

    VersionsResource(Versions versions, ApiAccess access) {
        this.versions = versions;
        this.access = access;
    }

    void register(Routes routes) {
        routes.guardBelow("/v1/versions", c -> access.admin(c.caller(), "previous versions of files"))
                .post("/v1/versions", Call.objectErrors(this::list))
                .post("/v1/versions/restore", Call.objectErrors(this::restore));
    }

    private void list(Call c) throws Exception {
        Versions.Listing l = versions.list(Call.absolute(Call.text(c.body(), "path", true), "path"));
        ObjectNode o = Json.object().put("path", l.path().toString()).put("volume", l.volume())
                .put("mount_point", l.mountPoint().toString()).put("relative", l.relative());
        ArrayNode a = o.putArray("versions");
        for (Versions.Version x : l.versions()) {
            ObjectNode e = a.addObject().put("shadow", x.shadow()).put("created", x.created().toString());
            x.copies().forEach(e.putArray("copies")::add);
            e.put("type", x.type()).put("size", x.size()).put("mtime", x.mtime().toString()).put("mode", x.mode())
                    .put("uid", x.uid()).put("gid", x.gid()).put("sha256", x.sha256()).put("current", x.current());
        }
        ArrayNode skipped = o.putArray("skipped");
        for (Versions.Skipped x : l.skipped()) {
            skipped.addObject().put("shadow", x.shadow()).put("created", x.created().toString())
                    .put("reason", x.reason());
        }
        c.ok(o);
    }

    private void restore(Call c) throws Exception {
        JsonNode b = c.body();
        String to = Call.text(b, "to", false);
        Versions.Restored res = versions.restore(Call.absolute(Call.text(b, "path", true), "path"),
                Call.text(b, "shadow", true), to == null ? null : Call.absolute(to, "to"),
                b.path("overwrite").asBoolean(false));
        c.ok(Json.object().put("path", res.path().toString()).put("shadow", res.shadow())
                .put("to", res.to().toString()).put("replaced", res.replaced()));
    }
}
