package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Schedules in a real daemon, driven through the CLI: retention, missed runs, rotation, protection, bad input. */
class ScheduleIntegrationTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;

    @BeforeEach
    void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state")).start();
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
    }

    @AfterEach
    void stop() throws Exception {
        if (daemon != null) {
            daemon.close();
        }
    }

    JsonNode json(String... args) throws Exception {
        String[] a = new String[args.length + 1];
        System.arraycopy(args, 0, a, 0, args.length);
        a[args.length] = "--json";
        return Json.MAPPER.readTree(daemon.cli(a).ok().out());
    }

    JsonNode schedule(String name) throws Exception {
        for (JsonNode s : json("schedule", "list").path("schedules")) {
            if (s.path("name").asText().equals(name)) {
                return s;
            }
        }
        throw new AssertionError("no schedule " + name);
    }

    List<String> copiesOf(String schedule) throws Exception {
        List<String> out = new ArrayList<>();
        for (JsonNode s : json("list", "shadows").path("shadows")) {
            if (schedule.equals(s.path("schedule").asText(null))) {
                out.add(s.path("id").asText());
            }
        }
        return out;
    }

    long events(String type) throws Exception {
        byte[] a = Wire.http(daemon.state.resolve("shadowcopy.sock"), Wire.request("GET", "/v1/events?limit=2000", null),
                Duration.ofSeconds(30));
        String body = new String(a, StandardCharsets.UTF_8);
        JsonNode n = Json.MAPPER.readTree(body.substring(body.indexOf("\r\n\r\n") + 4));
        long c = 0;
        for (JsonNode e : n.path("events")) {
            c += e.path("type").asText().equals(type) ? 1 : 0;
        }
        return c;
    }

    @Test
    void aScheduleEveryTwoSecondsForFifteenSecondsKeepsExactlyItsKeep() throws Exception {
        daemon.cli("schedule", "add", "often", "--for", "v", "--calendar", "*:*:0/2", "--keep", "3").ok();
        Instant end = Instant.now().plusSeconds(15);
        await(Duration.ofSeconds(30), () -> Instant.now().isAfter(end), "15 s of runs");
        // list waits for a run in progress, so what it shows is settled: retention has run
        JsonNode s = schedule("often");
        assertEquals("ok", s.path("last_result").asText(), s.toString());
        assertEquals(3, s.path("copies").size(), s.toString());
        assertTrue(events("schedule-run") >= 5, "runs in 15 s: " + events("schedule-run"));
        daemon.cli("schedule", "remove", "often").ok();
        // list shadows named the schedule on its copies; after removal the copies stay
        assertEquals(3, json("list", "shadows").path("shadows").size());
        assertEquals(List.of(), copiesOf("often"));
    }

    @Test
    void aRunMissedWhileTheDaemonWasDownRunsOnceAtStart() throws Exception {
        // two elapses a few seconds ahead (UTC), then none until tomorrow: both pass while the daemon is down
        Instant at = Instant.now().plusSeconds(6);
        DateTimeFormatter hms = DateTimeFormatter.ofPattern("HH:mm:").withZone(ZoneOffset.UTC);
        int sec = at.atZone(ZoneOffset.UTC).getSecond();
        Instant second = at.plusSeconds(1);
        String spec = at.atZone(ZoneOffset.UTC).getHour() == second.atZone(ZoneOffset.UTC).getHour()
                && at.atZone(ZoneOffset.UTC).getMinute() == second.atZone(ZoneOffset.UTC).getMinute()
                ? hms.format(at) + String.format("%02d,%02d", sec, sec + 1) : hms.format(at) + String.format("%02d", sec);
        daemon.cli("schedule", "add", "once", "--for", "v", "--calendar", spec + " UTC", "--keep", "10").ok();
        daemon.stop();
        Instant passed = at.plusSeconds(2);
        await(Duration.ofSeconds(20), () -> Instant.now().isAfter(passed), "the elapses to pass");
        daemon.start();
        await(Duration.ofSeconds(30), () -> {
            try {
                return schedule("once").path("copies").size() >= 1;
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, "the missed run");
        JsonNode s = schedule("once");
        assertEquals(1, s.path("copies").size(), "one run for two missed elapses: " + s);
        assertEquals(1, events("schedule-missed"));
        assertTrue(Instant.parse(s.path("next_run").asText()).isAfter(Instant.now().plus(Duration.ofHours(20))),
                "the next run is tomorrow's: " + s);
    }

    @Test
    void atTheSixtyFourCopyLimitAScheduleRotatesOutItsOwnOldest() throws Exception {
        daemon.cli("schedule", "add", "rot", "--for", "v", "--calendar", "yearly", "--keep", "100").ok();
        JsonNode first = json("schedule", "run", "rot");
        String firstCopy = first.path("copies").get(0).asText();
        Set<String> others = new HashSet<>();
        for (int i = 0; i < 63; i++) { // fill to the 64 client-accessible copies VSS allows per volume
            byte[] a = Wire.http(daemon.state.resolve("shadowcopy.sock"), Wire.request("POST", "/v1/sets",
                    "{\"volumes\":[\"v\"],\"context\":\"client-accessible\"}"), Duration.ofSeconds(60));
            assertEquals(201, Wire.status(a), new String(a, StandardCharsets.UTF_8));
            String body = new String(a, StandardCharsets.UTF_8);
            others.add(Json.MAPPER.readTree(body.substring(body.indexOf("\r\n\r\n") + 4)).path("shadows").get(0)
                    .path("id").asText());
        }
        assertEquals(64, json("list", "shadows").path("shadows").size());
        JsonNode second = json("schedule", "run", "rot");
        assertTrue(second.path("ok").asBoolean(), second.toString());
        assertEquals(List.of(firstCopy), Json.MAPPER.convertValue(second.path("rotated"), List.class));
        JsonNode all = json("list", "shadows").path("shadows");
        assertEquals(64, all.size());
        Set<String> ids = new HashSet<>();
        all.forEach(s -> ids.add(s.path("id").asText()));
        assertTrue(ids.containsAll(others), "only the schedule's own copy was rotated out");
        assertFalse(ids.contains(firstCopy));
        // a schedule with none of its own to rotate out fails clearly, and deletes nothing
        daemon.cli("schedule", "add", "none", "--for", "v", "--calendar", "yearly", "--keep", "1").ok();
        DaemonProcess.Result r = daemon.cli("schedule", "run", "none");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("at its limit") && r.err().contains("no unprotected copy"), r.err());
        assertEquals(64, json("list", "shadows").path("shadows").size());
        assertEquals("failed", schedule("none").path("last_result").asText());
    }

    @Test
    void retentionNeverDeletesAProtectedCopy() throws Exception {
        daemon.cli("schedule", "add", "p", "--for", "v", "--calendar", "yearly", "--keep", "1").ok();
        String a = json("schedule", "run", "p").path("copies").get(0).asText();
        daemon.cli("protect", "--shadow", a, "--until", "2099-01-01").ok();
        JsonNode second = json("schedule", "run", "p");
        String b = second.path("copies").get(0).asText();
        assertEquals(List.of(), Json.MAPPER.convertValue(second.path("deleted"), List.class), "a is protected");
        JsonNode third = json("schedule", "run", "p");
        assertEquals(List.of(b), Json.MAPPER.convertValue(third.path("deleted"), List.class));
        String c = third.path("copies").get(0).asText();
        assertEquals(Set.of(a, c), new HashSet<>(copiesOf("p")));
        assertNotEquals(a, c);
    }

    @Test
    void aBackupScheduleKeepsItsOwnBackupPointsOnly() throws Exception {
        Path repo = tmp.resolve("repo");
        daemon.cli("backup", "--for", "v", "--repo", repo.toString()).ok(); // not the schedule's: never pruned by it
        daemon.cli("schedule", "add", "nightly", "--for", "v", "--calendar", "daily", "--keep", "2", "--backup",
                "--repo", repo.toString()).ok();
        List<String> made = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            JsonNode r = json("schedule", "run", "nightly");
            assertTrue(r.path("ok").asBoolean(), r.toString());
            made.add(r.path("backup").asText());
        }
        JsonNode list = Json.MAPPER.readTree(daemon.cli("backups", "list", "--repo", repo.toString(), "--json").ok()
                .out());
        List<String> labelled = new ArrayList<>();
        int unlabelled = 0;
        for (JsonNode b : list.path("backups")) {
            if ("schedule:nightly".equals(b.path("label").asText(null))) {
                labelled.add(b.path("id").asText());
            } else {
                unlabelled++;
            }
        }
        assertEquals(Set.of(made.get(1), made.get(2)), new HashSet<>(labelled), "the newest two of its own");
        assertEquals(1, unlabelled);
        assertEquals(0, json("list", "shadows").path("shadows").size(), "a backup's copies are released");
    }

    @Test
    void badInputIsRefusedClearly() throws Exception {
        DaemonProcess.Result r = daemon.cli("schedule", "add", "x", "--for", "v", "--calendar", "every 5 minutes",
                "--keep", "3");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("unknown calendar syntax 'every 5 minutes'") && r.err().contains("Mon..Fri"), r.err());
        r = daemon.cli("schedule", "add", "x", "--for", "v", "--calendar", "daily", "--keep", "often");
        assertTrue(r.exit() == 1 && r.err().contains("keep rules 'often'"), r.err());
        r = daemon.cli("schedule", "run", "nope");
        assertTrue(r.exit() == 1 && r.err().contains("no schedule named nope"), r.err());
        daemon.cli("schedule", "add", "x", "--for", "w", "--calendar", "daily", "--keep", "3").ok();
        r = daemon.cli("schedule", "run", "x");
        assertTrue(r.exit() == 1 && r.err().contains("no volume named w"), r.err());
        r = daemon.cli("schedule", "add", "x", "--for", "v", "--calendar", "daily", "--keep", "3");
        assertTrue(r.exit() == 1 && r.err().contains("exists already"), r.err());
        assertEquals(0, json("schedule", "list").path("schedules").get(0).path("copies").size());
    }
}
