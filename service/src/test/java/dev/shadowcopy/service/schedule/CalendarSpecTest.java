package dev.shadowcopy.service.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.testing.Host;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** systemd's calendar syntax, checked against systemd itself ({@code systemd-analyze calendar}). */
class CalendarSpecTest {
    /** Specs an admin writes, and corner cases of each field form. */
    static final List<String> SPECS = List.of("minutely", "hourly", "daily", "weekly", "monthly", "yearly",
            "quarterly", "semiannually", "Mon..Fri 07,12:00", "*:0/15", "*:*:0/2", "Sat,Sun 10:30", "*-*-01 03:00",
            "2027-02-28 23:59:59", "*-02-29 12:00", "Fri *-*-13 00:00", "*-*-* 08..17:00/20", "Sun 23:59:30",
            "*:05,35", "12:00", "Wed", "*-12-24..26 18:00", "*-*-1/10 06:00", "*:*:*", "03-15 09:00", "Sat,Sun,Mon 00:00");

    @Test
    @Tag("host")
    void nextElapsesMatchSystemdAnalyze() throws Exception {
        Host.requireProgram("systemd-analyze");
        Instant base = Instant.parse("2026-12-30T22:58:31Z");
        int n = 6;
        List<String> cmd = new ArrayList<>(List.of("systemd-analyze", "calendar", "--iterations=" + n,
                "--base-time=@" + base.getEpochSecond()));
        SPECS.forEach(s -> cmd.add(s + " UTC"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("TZ", "UTC");
        pb.environment().put("SYSTEMD_COLORS", "0");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        DateTimeFormatter f = DateTimeFormatter.ofPattern("EEE yyyy-MM-dd HH:mm:ss");
        List<List<Instant>> expected = new ArrayList<>();
        for (String line : out.lines().toList()) {
            String l = line.strip();
            if (l.startsWith("Normalized form:")) {
                expected.add(new ArrayList<>());
            } else if (l.startsWith("Next elapse:") || l.startsWith("Iter. #")) {
                String t = l.substring(l.indexOf(':') + 1).strip().replace(" UTC", "");
                expected.getLast().add(LocalDateTime.parse(t, f).toInstant(ZoneOffset.UTC));
            }
        }
        assertEquals(SPECS.size(), expected.size(), out);
        for (int i = 0; i < SPECS.size(); i++) {
            CalendarSpec spec = CalendarSpec.parse(SPECS.get(i) + " UTC");
            List<Instant> ours = new ArrayList<>();
            Instant t = base;
            for (int k = 0; k < expected.get(i).size(); k++) {
                t = spec.next(t);
                ours.add(t);
            }
            assertEquals(expected.get(i), ours, "next elapses of '" + SPECS.get(i) + "'");
        }
    }

    @Test
    void everyTwoSecondsElapsesOnEvenSeconds() {
        CalendarSpec s = CalendarSpec.parse("*:*:0/2 UTC");
        assertEquals(Instant.parse("2026-01-01T00:00:02Z"), s.next(Instant.parse("2026-01-01T00:00:00Z")));
        assertEquals(Instant.parse("2026-01-01T00:00:02Z"), s.next(Instant.parse("2026-01-01T00:00:01.999Z")));
    }

    @Test
    void aDateThatNeverExistsHasNoElapse() {
        assertNull(CalendarSpec.parse("*-02-30 12:00").next(Instant.parse("2026-01-01T00:00:00Z")));
    }

    @Test
    void unknownSyntaxIsRefusedWithTheExpectedForms() {
        for (String bad : List.of("", "every 5 minutes", "25:00", "*:61", "Mon..Fry 10:00", "*-13-01", "1..", "*/0:00",
                "*-*~03", "*:*:1.5", "Mon 10:00 11:00 12:00 13:00", "Sat..Mon 00:00", "*-*-*/10 06:00")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CalendarSpec.parse(bad),
                    bad);
            assertTrue(e.getMessage().startsWith("unknown calendar syntax '" + bad + "'"), e.getMessage());
            assertTrue(e.getMessage().contains("systemd.time(7)"), e.getMessage());
        }
    }
}
