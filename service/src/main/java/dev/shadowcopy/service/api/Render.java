package dev.shadowcopy.service.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.service.catalog.Attributes;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.ops.LiveVolumes;
import dev.shadowcopy.service.ops.PreviousVersions;
import dev.shadowcopy.service.ops.ShadowCopies;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.SnapshotSetCreator;
import dev.shadowcopy.service.sequence.WriterStatus;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.device.VolumeEngine;
import java.io.IOException;

/** The API's JSON for the objects several resources answer with (volumes, copies, sessions, writers' states). */
final class Render {
    private final Volumes volumes;
    private final ShadowCopies shadows;
    private final PreviousVersions previous;

    Render(Volumes volumes, ShadowCopies shadows, PreviousVersions previous) {
        this.volumes = volumes;
        this.shadows = shadows;
        this.previous = previous;
    }

    /** {@code {"name": node}}. */
    static ObjectNode wrap(String name, JsonNode n) {
        ObjectNode o = Json.object();
        o.set(name, n);
        return o;
    }

    ObjectNode foreignVolume(ForeignVolumes.Foreign f) {
        ObjectNode o = Json.object();
        o.put("name", f.name());
        o.put("layout", "btrfs");
        o.put("provider", f.provider());
        o.put("backing", f.description());
        o.put("shadow_copies", volumes.copyCount(f.name()));
        return o;
    }

    ObjectNode volume(ManagedVolume v) {
        ObjectNode o = Json.object();
        VolumeConfig c = v.config();
        o.put("name", v.name());
        o.put("id", v.id().toString());
        o.put("size", v.size());
        o.put("chunk_size", c.chunkSize());
        o.put("backing", c.backing().toString());
        o.put("layout", c.layout().shortName());
        o.put("max_shadow_copies", c.maxShadowCopies());
        o.put("shadow_copies", v.shadowCopies().size());
        Attachment a = volumes.attachment(v.name()).orElse(null);
        o.put("device", a == null ? null : a.loopDevice());
        if (a != null) {
            o.put("attach_path", a.path());
            o.put("attached_read_only", a.readOnly());
            o.put("attached_since", a.since().toString());
            o.put("kept_by", volumes.keeper());
        }
        o.put("nbd_export", v.name());
        var live = volumes.liveState(v.name());
        o.put("state", live.isPresent() ? "migrating" : v.incomplete() == null ? "ready" : "incomplete");
        o.put("incomplete", live.isPresent() ? null : v.incomplete()); // why, and what to do, or null
        if (live.isPresent()) { // a live restore: usable now, filled in the background
            LiveVolumes.State st = live.get();
            ObjectNode m = o.putObject("migration");
            m.put("from", st.from()).put("bytes_in_place", st.bytesInPlace()).put("bytes", st.bytes())
                    .put("percent", st.bytes() == 0 ? 100 : (int) (100 * st.bytesInPlace() / st.bytes()))
                    .put("problem", st.problem());
        }
        return o;
    }

    static ObjectNode storage(ManagedVolume v) throws IOException {
        VolumeEngine.ShadowStorageUsage u = v.shadowStorage();
        ObjectNode o = Json.object();
        o.put("volume", v.name());
        o.put("location", u.location());
        o.put("used", u.used());
        o.put("allocated", u.allocated());
        o.put("maximum", u.maximum());
        o.put("limit", v.config().shadowStorage().toString());
        return o;
    }

    ObjectNode shadow(ShadowRecord s) {
        ObjectNode o = (ObjectNode) Json.MAPPER.valueToTree(s);
        ArrayNode names = o.putArray("attribute_names");
        Attributes.names(s.attributes()).forEach(names::add);
        o.put("protected", s.isProtected());
        o.put("nbd_export", "shadow/" + s.id());
        o.put("schedule", previous.scheduleOf(s)); // the schedule that made it, or null
        shadows.size(s).ifPresent(size -> o.put("size", size));
        return o;
    }

    static ObjectNode deleteResult(ShadowCopies.DeleteResult d) {
        ObjectNode o = Json.object();
        ArrayNode deleted = o.putArray("deleted");
        d.deleted().forEach(id -> deleted.add(id.toString()));
        ArrayNode refused = o.putArray("refused");
        for (ShadowRecord s : d.refused()) {
            refused.addObject().put("id", s.id().toString()).put("protect_until", s.protectUntil().toString());
        }
        return o;
    }

    ObjectNode createdSet(SnapshotSetCreator.CreatedSet c, Session s) {
        ObjectNode o = Json.object();
        o.put("set_id", c.set().id().toString());
        o.put("session_id", s.id().toString());
        ArrayNode a = o.putArray("shadows");
        c.copies().forEach(r -> a.add(shadow(r)));
        o.set("writers", writerStatus(s));
        return o;
    }

    static ObjectNode session(Session s) {
        ObjectNode o = Json.object();
        o.put("id", s.id().toString());
        o.put("context", s.context().wireName());
        o.put("backup_type", s.backupType());
        o.put("state", s.state().name().toLowerCase());
        o.put("owner", s.owner());
        o.put("created", s.created().toString());
        o.put("lease_until", s.leaseUntil() == null ? null : s.leaseUntil().toString());
        o.put("set_id", s.setId());
        s.copies().forEach(o.putArray("shadows")::add);
        o.set("writers", writerStatus(s));
        return o;
    }

    static ArrayNode writerStatus(Session s) {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (WriterStatus w : s.writerStatus()) {
            a.addObject().put("name", w.name()).put("kind", w.kind()).put("state", w.state().name())
                    .put("state_code", w.state().code()).put("state_label", w.state().label())
                    .put("last_error", w.failure().name()).put("last_error_label", w.failure().label())
                    .put("message", w.message());
        }
        return a;
    }
}
