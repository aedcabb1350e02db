package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.PreviousVersions;
import dev.shadowcopy.service.versions.SambaShares;

/**
 * {@code /v1/shares}: volumes whose copies Samba shows as Previous Versions (a snapshot directory the service keeps
 * mounted, and the smb.conf section that points shadow_copy2 at it). The administrator's only.
 *
 * <pre>
 * GET    /v1/shares                         volumes shared over Samba
 * POST   /v1/shares                         {"volume","name","snapdir"}: the share and its smb.conf section
 * DELETE /v1/shares/{volume}
 * </pre>
 */
final class SharesResource {
    private final PreviousVersions previous;
    private final ApiAccess access;

    SharesResource(PreviousVersions previous, ApiAccess access) {
        this.previous = previous;
        this.access = access;
    }

    void register(Routes routes) {
        routes.guardBelow("/v1/shares", c -> access.admin(c.caller(), "Samba shares"))
                .get("/v1/shares", c -> c.ok(Render.wrap("shares", Json.MAPPER.valueToTree(
                        previous.shares().list()))))
                .post("/v1/shares", Call.objectErrors(this::add))
                .delete("/v1/shares/{volume}", Call.objectErrors(c -> {
                    SambaShares.Share s = previous.unshare(c.param("volume"));
                    c.ok(Json.object().put("unshared", s.volume()).put("snapdir", s.snapdir()));
                }));
    }

    private void add(Call c) throws Exception {
        JsonNode b = c.body();
        String snap = Call.text(b, "snapdir", false);
        PreviousVersions.Shared shared = previous.share(Call.text(b, "volume", true), Call.text(b, "name", true),
                snap == null ? null : Call.absolute(snap, "snapdir"));
        ObjectNode o = Json.MAPPER.valueToTree(shared.share());
        o.put("mount_point", shared.mountPoint().toString())
                .put("smb_conf", SambaShares.smbConf(shared.share(), shared.mountPoint()));
        c.ok(201, o);
    }
}
