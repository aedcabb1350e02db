package dev.shadowcopy.service.schedule;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.BitSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A calendar event in systemd's syntax (systemd.time(7), "Calendar Events"), which admins know from timers:
 * {@code [WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [TIMEZONE]}, or one of the shorthands
 * {@code minutely hourly daily weekly monthly yearly annually quarterly semiannually}.
 *
 * <p>Each date and time field is {@code *}, a value, a range {@code A..B}, a repetition {@code A/STEP} or
 * {@code A..B/STEP}, or a comma-separated list of those. Weekdays are English names or their three-letter forms,
 * as lists and forward {@code ..} ranges. What systemd 252 refuses is refused too ({@code *}{@code /STEP},
 * {@code Sat..Mon}). An omitted
 * date is {@code *-*-*}, an omitted time {@code 00:00:00}, omitted seconds {@code 00}. The zone is the
 * system's unless a trailing {@code UTC} or zone id names another. Not supported, and refused with a clear
 * error: {@code ~} (days counted from the end of a month), fractional seconds and {@code @EPOCH}.
 *
 * <p>Tested against {@code systemd-analyze calendar} ({@code CalendarSpecTest}).
 */
public record CalendarSpec(String text, int weekdays, BitSet years, BitSet months, BitSet days, BitSet hours,
                           BitSet minutes, BitSet seconds, ZoneId zone) {
    private static final int MIN_YEAR = 1970;
    private static final int MAX_YEAR = 2199;
    private static final int ALL_WEEKDAYS = 0x7f;
    private static final Map<String, String> SHORTHANDS = Map.of(
            "minutely", "*-*-* *:*:00", "hourly", "*-*-* *:00:00", "daily", "*-*-* 00:00:00",
            "monthly", "*-*-01 00:00:00", "weekly", "Mon *-*-* 00:00:00", "yearly", "*-01-01 00:00:00",
            "annually", "*-01-01 00:00:00", "quarterly", "*-01,04,07,10-01 00:00:00",
            "semiannually", "*-01,07-01 00:00:00");
    private static final List<String> DAY_NAMES = List.of("monday", "tuesday", "wednesday", "thursday", "friday",
            "saturday", "sunday");

    /** Parses {@code text}; {@link IllegalArgumentException} says what is wrong and what is expected. */
    public static CalendarSpec parse(String text) {
        if (text == null || text.isBlank()) {
            throw bad(text, "it is empty");
        }
        String t = text.strip();
        String[] words = t.split("\\s+");
        ZoneId zone = ZoneId.systemDefault();
        int n = words.length;
        if (n > 1 || !SHORTHANDS.containsKey(words[0].toLowerCase(Locale.ROOT))) {
            ZoneId z = zoneOf(words[n - 1]);
            if (z != null) {
                zone = z;
                n--;
            }
        }
        if (n == 1 && SHORTHANDS.containsKey(words[0].toLowerCase(Locale.ROOT))) {
            CalendarSpec s = parse(SHORTHANDS.get(words[0].toLowerCase(Locale.ROOT)) + " UTC");
            return new CalendarSpec(text.strip(), s.weekdays, s.years, s.months, s.days, s.hours, s.minutes, s.seconds,
                    zone);
        }
        if (n == 0 || n > 3) {
            throw bad(text, "expected at most three parts (weekdays, date, time) and a time zone");
        }
        int i = 0;
        int weekdays = ALL_WEEKDAYS;
        if (!words[0].contains("-") && !words[0].contains(":") && Character.isLetter(words[0].charAt(0))) {
            weekdays = weekdays(text, words[0]);
            i++;
        }
        String date = null;
        String time = null;
        for (; i < n; i++) {
            String w = words[i];
            if (w.contains(":") && time == null) {
                time = w;
            } else if (w.contains("-") && date == null && time == null) {
                date = w;
            } else {
                throw bad(text, "'" + w + "' is neither a date (YEAR-MONTH-DAY) nor a time (HOUR:MINUTE[:SECOND])");
            }
        }
        if (date == null && time == null && i == 1 && weekdays == ALL_WEEKDAYS) {
            throw bad(text, "nothing to match");
        }
        String[] d = date == null ? new String[] {"*", "*", "*"} : date.split("-", -1);
        if (d.length == 2) {
            d = new String[] {"*", d[0], d[1]};
        }
        if (d.length != 3) {
            throw bad(text, "the date '" + date + "' must be YEAR-MONTH-DAY or MONTH-DAY");
        }
        String[] h = time == null ? new String[] {"00", "00", "00"} : time.split(":", -1);
        if (h.length == 2) {
            h = new String[] {h[0], h[1], "00"};
        }
        if (h.length != 3) {
            throw bad(text, "the time '" + time + "' must be HOUR:MINUTE or HOUR:MINUTE:SECOND");
        }
        return new CalendarSpec(text.strip(), weekdays, field(text, d[0], "year", MIN_YEAR, MAX_YEAR),
                field(text, d[1], "month", 1, 12), field(text, d[2], "day", 1, 31), field(text, h[0], "hour", 0, 23),
                field(text, h[1], "minute", 0, 59), field(text, h[2], "second", 0, 59), zone);
    }

    /**
     * The first instant strictly after {@code after} that the event matches, or null if there is none before
     * the year 2200 (a date that never exists, such as {@code *-02-30}).
     */
    public Instant next(Instant after) {
        LocalDateTime t = LocalDateTime.ofInstant(after, zone).truncatedTo(ChronoUnit.SECONDS).plusSeconds(1);
        for (int guard = 0; guard < 100_000; guard++) {
            if (t.getYear() > MAX_YEAR) {
                return null;
            }
            if (!years.get(t.getYear())) {
                t = LocalDateTime.of(t.getYear() + 1, 1, 1, 0, 0);
            } else if (!months.get(t.getMonthValue())) {
                t = t.withDayOfMonth(1).toLocalDate().atStartOfDay().plusMonths(1);
            } else if (!days.get(t.getDayOfMonth()) || (weekdays & (1 << (t.getDayOfWeek().getValue() - 1))) == 0) {
                t = t.toLocalDate().plusDays(1).atStartOfDay();
            } else if (!hours.get(t.getHour())) {
                t = t.truncatedTo(ChronoUnit.HOURS).plusHours(1);
            } else if (!minutes.get(t.getMinute())) {
                t = t.truncatedTo(ChronoUnit.MINUTES).plusMinutes(1);
            } else if (!seconds.get(t.getSecond())) {
                t = t.plusSeconds(1);
            } else {
                Instant at = t.atZone(zone).toInstant();
                if (at.isAfter(after)) {
                    return at;
                }
                t = t.plusSeconds(1); // a repeated local hour (DST ends): already past in real time
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return text;
    }

    private static ZoneId zoneOf(String w) {
        if (w.equalsIgnoreCase("UTC") || w.equalsIgnoreCase("GMT") || w.equals("Z")) {
            return ZoneOffset.UTC;
        }
        if (!w.contains("/") || w.contains(":") || w.contains("*")) {
            return null;
        }
        try {
            return ZoneId.of(w);
        } catch (DateTimeException e) {
            return null;
        }
    }

    private static int weekdays(String text, String w) {
        int mask = 0;
        for (String part : w.split(",", -1)) {
            String[] r = part.split("\\.\\.", -1);
            if (r.length > 2) {
                throw bad(text, "the weekday range '" + part + "' must be FROM..TO");
            }
            int from = day(text, r[0]);
            int to = r.length == 2 ? day(text, r[1]) : from;
            if (to < from) {
                throw bad(text, "the weekday range '" + part + "' runs backwards (systemd does not wrap over the "
                        + "week's end: write Sat,Sun,Mon)");
            }
            for (int d = from; d <= to; d++) {
                mask |= 1 << d;
            }
        }
        return mask;
    }

    /** 0 = Monday … 6 = Sunday. */
    private static int day(String text, String name) {
        String n = name.toLowerCase(Locale.ROOT);
        for (int i = 0; i < DAY_NAMES.size(); i++) {
            if (n.length() >= 3 && DAY_NAMES.get(i).startsWith(n) && (n.length() == 3 || n.equals(DAY_NAMES.get(i)))) {
                return i;
            }
        }
        throw bad(text, "'" + name + "' is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun or the full names)");
    }

    private static BitSet field(String text, String f, String what, int min, int max) {
        BitSet set = new BitSet(max + 1);
        if (f.isEmpty()) {
            throw bad(text, "the " + what + " is empty");
        }
        if (f.contains("~")) {
            throw bad(text, "'~' (days from the end of the month) is not supported here");
        }
        for (String part : f.split(",", -1)) {
            String range = part;
            int step = 0;
            int slash = part.indexOf('/');
            if (slash >= 0) {
                range = part.substring(0, slash);
                step = number(text, part.substring(slash + 1), what + " repetition", 1, max);
            }
            int from;
            int to;
            if (range.equals("*")) {
                if (step > 0) {
                    throw bad(text, "a repetition needs a start ('0/" + step + "', not '*/" + step + "')");
                }
                from = min;
                to = max;
            } else if (range.contains("..")) {
                String[] r = range.split("\\.\\.", -1);
                if (r.length != 2) {
                    throw bad(text, "the " + what + " range '" + range + "' must be FROM..TO");
                }
                from = number(text, r[0], what, min, max);
                to = number(text, r[1], what, min, max);
                if (to < from) {
                    throw bad(text, "the " + what + " range '" + range + "' ends before it starts");
                }
            } else {
                from = number(text, range, what, min, max);
                to = step > 0 ? max : from; // A/STEP repeats from A to the field's end
            }
            for (int v = from; v <= to; v += step > 0 ? step : 1) {
                set.set(v);
            }
        }
        return set;
    }

    private static int number(String text, String s, String what, int min, int max) {
        if (s.isEmpty() || s.length() > 4 || !s.chars().allMatch(Character::isDigit)) {
            throw bad(text, "'" + s + "' is not a valid " + what + (s.contains(".") ? " (fractions of seconds are "
                    + "not supported)" : "") + " (expected a number from " + min + " to " + max + ")");
        }
        int v = Integer.parseInt(s);
        if (v < min || v > max) {
            throw bad(text, "the " + what + " " + v + " is out of range (expected: " + min + ".." + max + ")");
        }
        return v;
    }

    static IllegalArgumentException bad(String text, String why) {
        return new IllegalArgumentException("unknown calendar syntax '" + text + "': " + why + ". Use systemd's "
                + "calendar events (systemd.time(7)), e.g. hourly, daily, 'Mon..Fri 07,12:00', '*:0/15', '*:*:0/2'");
    }
}
