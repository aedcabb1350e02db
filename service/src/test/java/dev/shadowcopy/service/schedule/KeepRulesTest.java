package dev.shadowcopy.service.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class KeepRulesTest {
    static List<KeepRules.Point> hourlyPoints(int n) {
        List<KeepRules.Point> out = new ArrayList<>();
        Instant t = Instant.parse("2026-03-01T00:30:00Z");
        for (int i = 0; i < n; i++) {
            out.add(new KeepRules.Point("p" + String.format("%04d", i), t.plusSeconds(3600L * i)));
        }
        return out;
    }

    @Test
    void aBareNumberKeepsTheLastN() {
        KeepRules r = KeepRules.parse("3");
        assertEquals("last=3", r.toString());
        assertEquals(Set.of("p0009", "p0008", "p0007"), r.keep(hourlyPoints(10), ZoneOffset.UTC).keySet());
    }

    @Test
    void timelineRulesKeepTheNewestOfEachPeriod() {
        KeepRules r = KeepRules.parse("hourly=2,daily=3");
        // 72 hourly points over three days: the two newest hours, and the newest of each of the three days
        Set<String> kept = new TreeSet<>(r.keep(hourlyPoints(72), ZoneOffset.UTC).keySet());
        assertEquals(new TreeSet<>(Set.of("p0071", "p0070", "p0047", "p0023")), kept);
    }

    @Test
    void yearlyAndMonthlyCountDistinctPeriods() {
        List<KeepRules.Point> pts = List.of(new KeepRules.Point("a", Instant.parse("2024-05-01T00:00:00Z")),
                new KeepRules.Point("b", Instant.parse("2025-05-01T00:00:00Z")),
                new KeepRules.Point("c", Instant.parse("2025-06-01T00:00:00Z")));
        assertEquals(Set.of("c", "a"), KeepRules.parse("yearly=2").keep(pts, ZoneOffset.UTC).keySet());
        assertEquals(Set.of("c", "b"), KeepRules.parse("monthly=2").keep(pts, ZoneOffset.UTC).keySet());
    }

    @Test
    void canonicalTextReadsBack() {
        KeepRules r = KeepRules.parse("yearly=2,hourly=24,daily=7,weekly=4,monthly=12,last=1");
        assertEquals("last=1,hourly=24,daily=7,weekly=4,monthly=12,yearly=2", r.toString());
        assertEquals(r, KeepRules.parse(r.toString()));
    }

    @Test
    void badRulesAreRefusedWithExamples() {
        for (String bad : List.of("", "0", "ten", "hourly", "hourly=-1", "secondly=3", "daily=7,daily=8", "last=x")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KeepRules.parse(bad), bad);
            assertTrue(e.getMessage().contains("--keep"), e.getMessage());
        }
    }
}
