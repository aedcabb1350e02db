package dev.shadowcopy.service.catalog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.writer.WriterFailure;
import dev.shadowcopy.writer.WriterState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The catalog's records are typed in memory and the same text on disk as before they were. */
class CatalogFormatTest {
    /** A catalog.json as the service wrote it when its records held strings. */
    static final String VERSION_1 = """
            {
              "version" : 1,
              "sets" : [ {
                "id" : "6b0c2f4e-96a5-4c55-9d0e-1f1c3a9d7e10",
                "state" : "created",
                "started" : "2026-01-02T03:04:05.123456Z",
                "context" : "app-rollback",
                "copies" : { "data" : "1b4e28ba-2fa1-11d2-883f-0016d3cca427" },
                "session_id" : "0f2d7c58-4b1e-4a61-8f0c-3d9e5b6a7c81",
                "error" : null
              } ],
              "copies" : [ {
                "id" : "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                "set_id" : "6b0c2f4e-96a5-4c55-9d0e-1f1c3a9d7e10",
                "volume" : "data",
                "provider" : "shadowcopy-software",
                "created" : "2026-01-02T03:04:05.200Z",
                "context" : "app-rollback",
                "attributes" : 131145,
                "consistency" : "application",
                "writers" : [ {
                  "name" : "pg",
                  "kind" : "builtin",
                  "state" : "WAITING_FOR_BACKUP_COMPLETE",
                  "failure" : "NONE",
                  "message" : null
                } ],
                "protect_until" : "2099-12-31T00:00:00Z",
                "set_count" : 1,
                "originating_machine" : "host",
                "state" : "created",
                "exposed_path" : "/mnt/old",
                "session_id" : null
              }, {
                "id" : "2c5f39cb-3fb2-42e3-994f-1127e4ddb538",
                "set_id" : null,
                "volume" : "data",
                "provider" : "shadowcopy-software",
                "created" : "2026-01-01T00:00:00Z",
                "context" : "unknown",
                "attributes" : 1,
                "consistency" : "unknown",
                "writers" : [ ],
                "protect_until" : null,
                "set_count" : 1,
                "originating_machine" : null,
                "state" : "untracked",
                "exposed_path" : null,
                "session_id" : null
              } ],
              "writers" : [ {
                "name" : "pg",
                "kind" : "builtin",
                "last_seen" : "2026-01-02T03:04:06Z",
                "last_state" : "STABLE",
                "last_failure" : "NONE",
                "last_message" : null
              } ]
            }
            """;

    @TempDir
    Path dir;

    @Test
    void aVersionOneCatalogReadsAsTypedRecords() throws Exception {
        Files.writeString(dir.resolve("catalog.json"), VERSION_1);
        Catalog c = Catalog.open(dir);
        assertTrue(c.problems().isEmpty(), c.problems().toString());
        ShadowRecord r = c.copy(ShadowCopyId.parse("1b4e28ba-2fa1-11d2-883f-0016d3cca427")).orElseThrow();
        assertEquals(Instant.parse("2026-01-02T03:04:05.200Z"), r.created());
        assertEquals(ShadowRecord.Consistency.APPLICATION, r.consistency());
        assertEquals(ShadowRecord.State.CREATED, r.state());
        assertEquals(WriterState.WAITING_FOR_BACKUP_COMPLETE, r.writers().getFirst().state());
        assertTrue(r.isProtected());
        SetRecord s = c.sets().getFirst();
        assertEquals(SetRecord.State.CREATED, s.state());
        assertEquals(r.id(), s.copies().get("data"));
        assertEquals(UUID.fromString("0f2d7c58-4b1e-4a61-8f0c-3d9e5b6a7c81"), s.sessionId());
        assertEquals(WriterFailure.NONE, c.writers().getFirst().lastFailure());
    }

    @Test
    void publishingWritesTheSameJsonItRead() throws Exception {
        Files.writeString(dir.resolve("catalog.json"), VERSION_1);
        Catalog c = Catalog.open(dir);
        c.putWriter(c.writers().getFirst()); // republishes everything
        JsonNode written = Json.MAPPER.readTree(Files.readAllBytes(dir.resolve("catalog.json")));
        assertEquals(Json.MAPPER.readTree(VERSION_1), written);
    }

    @Test
    void aRecordThatBreaksItsRulesMovesTheCatalogAsideInsteadOfLoadingHalf() throws Exception {
        Files.writeString(dir.resolve("catalog.json"), VERSION_1.replace("\"state\" : \"untracked\"",
                "\"state\" : \"half-made\""));
        Catalog c = Catalog.open(dir);
        assertEquals(1, c.problems().size(), c.problems().toString());
        assertTrue(c.copies().isEmpty());
        assertFalse(Files.exists(dir.resolve("catalog.json")), "moved aside, never overwritten");
    }

    @Test
    void aCopyWithoutAVolumeCannotBeMade() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () ->
                new ShadowRecord(ShadowCopyId.random(), null, "", "p", Instant.now(), "backup", 0,
                        ShadowRecord.Consistency.CRASH, List.of(), null, 1, null, ShadowRecord.State.CREATED, null,
                        null));
        assertTrue(e.getMessage().contains("names no volume"), e.getMessage());
    }
}
