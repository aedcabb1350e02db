package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.service.access.ApiAccess;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.peer.Caller;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowStorageLimit;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeLayout;
import java.nio.file.Path;

/**
 * {@code /v1/volumes} (managed volumes and btrfs subvolumes: list, create, delete, attach, detach) and
 * {@code /v1/shadowstorage}. Creating, deleting, attaching and resizing are the administrator's.
 */
final class VolumesResource {
    private final Volumes volumes;
    private final ApiAccess access;
    private final Render render;

    VolumesResource(Volumes volumes, ApiAccess access, Render render) {
        this.volumes = volumes;
        this.access = access;
        this.render = render;
    }

    void register(Routes routes) {
        routes.get("/v1/volumes", this::list)
                .post("/v1/volumes", this::create)
                .get("/v1/volumes/{name}", this::get)
                .delete("/v1/volumes/{name}", this::delete)
                .post("/v1/volumes/{name}/attach", this::attach)
                .post("/v1/volumes/{name}/detach", this::detach)
                .get("/v1/shadowstorage", this::storage)
                .put("/v1/shadowstorage/{name}", this::resize)
                .post("/v1/shadowstorage/{name}", this::resize);
    }

    private void list(Call c) throws Exception {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (ManagedVolume v : volumes.list()) {
            if (access.sees(c.caller(), v.name())) {
                a.add(render.volume(v));
            }
        }
        for (ForeignVolumes.Foreign f : volumes.btrfsVolumes()) {
            if (access.sees(c.caller(), f.name())) {
                a.add(render.foreignVolume(f));
            }
        }
        c.ok(Render.wrap("volumes", a));
    }

    private void create(Call c) throws Exception {
        access.admin(c.caller(), "creating volumes");
        JsonNode b = c.body();
        if (b.hasNonNull("btrfs_subvolume")) {
            Path sub = access.adminPath(c.caller(), Call.text(b, "btrfs_subvolume", true), "btrfs_subvolume");
            c.ok(201, render.foreignVolume(volumes.registerBtrfs(Call.text(b, "name", true), sub)));
        } else {
            c.ok(201, render.volume(volumes.create(config(b, c.caller()))));
        }
    }

    private void get(Call c) throws Exception {
        String name = c.param("name");
        access.volume(c.caller(), name);
        ForeignVolumes.Foreign f = volumes.btrfs(name);
        c.ok(f != null ? render.foreignVolume(f) : render.volume(volumes.get(name)));
    }

    private void delete(Call c) throws Exception {
        access.admin(c.caller(), "deleting volumes");
        String name = c.param("name");
        volumes.delete(name, "1".equals(c.query("force")) || "true".equals(c.query("force")));
        c.ok(Json.object().put("deleted", name));
    }

    private void attach(Call c) throws Exception {
        access.admin(c.caller(), "attaching volumes as block devices");
        String name = c.param("name");
        Attachment a = volumes.attach(name, c.body().path("read_only").asBoolean(false));
        c.ok(Json.object().put("volume", name).put("device", a.loopDevice()).put("path", a.path())
                .put("kept_by", volumes.keeper()));
    }

    private void detach(Call c) throws Exception {
        access.admin(c.caller(), "detaching volumes");
        volumes.detach(c.param("name"), c.body().path("force").asBoolean(false));
        c.ok(Json.object().put("detached", c.param("name")));
    }

    private void storage(Call c) throws Exception {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (ManagedVolume v : volumes.list()) {
            if (access.sees(c.caller(), v.name())) {
                a.add(Render.storage(v));
            }
        }
        c.ok(Render.wrap("shadowstorage", a));
    }

    private void resize(Call c) throws Exception {
        access.admin(c.caller(), "resizing shadow storage");
        String max = Call.text(c.body(), "maxsize", true);
        ShadowStorageLimit limit;
        try {
            limit = ShadowStorageLimit.parse(max);
        } catch (IllegalArgumentException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, e.getMessage());
        }
        volumes.resizeShadowStorage(c.param("name"), limit);
        c.ok(Render.storage(volumes.get(c.param("name"))));
    }

    /** A new volume's configuration from the request; its backing path confined as {@link ApiAccess} says. */
    private VolumeConfig config(JsonNode b, Caller caller) throws ServiceException {
        String name = Call.text(b, "name", true);
        try {
            String backing = Call.text(b, "backing", false);
            VolumeConfig c;
            if (backing != null) {
                c = VolumeConfig.existing(name, access.backing(caller, backing));
                if (b.hasNonNull("size")) {
                    c = c.withSize(Sizes.parse(b.get("size").asText()));
                }
            } else {
                c = VolumeConfig.sparse(name, Sizes.parse(Call.text(b, "size", true)));
            }
            if (b.hasNonNull("chunk_size")) {
                long chunk = Sizes.parse(b.get("chunk_size").asText());
                if (chunk < VolumeConfig.MIN_CHUNK_SIZE || chunk > VolumeConfig.MAX_CHUNK_SIZE) {
                    throw new IllegalArgumentException("chunk_size " + b.get("chunk_size").asText() + " is out of range "
                            + "(expected: a power of two from " + Sizes.format(VolumeConfig.MIN_CHUNK_SIZE) + " to "
                            + Sizes.format(VolumeConfig.MAX_CHUNK_SIZE) + ")");
                }
                c = c.withChunkSize((int) chunk);
            }
            if (b.hasNonNull("shadow_storage")) {
                c = c.withShadowStorage(ShadowStorageLimit.parse(b.get("shadow_storage").asText()));
            }
            if (b.hasNonNull("max_shadow_copies")) {
                c = c.withMaxShadowCopies(b.get("max_shadow_copies").asInt());
            }
            if (b.hasNonNull("layout")) {
                c = c.withLayout(VolumeLayout.parse(b.get("layout").asText()));
            }
            return c;
        } catch (IllegalArgumentException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, e.getMessage());
        }
    }
}
