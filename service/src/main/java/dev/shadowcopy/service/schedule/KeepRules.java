package dev.shadowcopy.service.schedule;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.temporal.ChronoUnit;
import java.time.temporal.IsoFields;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Which of a schedule's points (shadow copy sets or backup points) retention keeps: snapper's timeline limits
 * and restic's/Proxmox Backup Server's keep rules. {@code last} keeps the N newest; {@code hourly} keeps the
 * newest point of each of the N most recent hours that have points, and likewise per day, ISO week, month and
 * year (counted in the zone given to {@link #keep}). A point any rule keeps is kept.
 *
 * <p>Written {@code 10} (= {@code last=10}) or {@code hourly=24,daily=7,weekly=4,monthly=12,yearly=2}.
 */
public record KeepRules(int last, int hourly, int daily, int weekly, int monthly, int yearly) {
    private static final int MAX = 100_000;

    public KeepRules {
        for (int n : new int[] {last, hourly, daily, weekly, monthly, yearly}) {
            if (n < 0 || n > MAX) {
                throw new IllegalArgumentException("a keep count must be 0.." + MAX + ", was " + n);
            }
        }
        if (last + hourly + daily + weekly + monthly + yearly == 0) {
            throw new IllegalArgumentException("keep rules keep nothing: give at least one count above 0 (--keep 10, "
                    + "or --keep hourly=24,daily=7)");
        }
    }

    /** A point in time a rule may keep. */
    public record Point(String id, Instant created) {}

    /** Parses {@code 10} or {@code last=3,hourly=24,daily=7,weekly=4,monthly=12,yearly=2}. */
    public static KeepRules parse(String text) {
        if (text == null || text.isBlank()) {
            throw bad(text, "it is empty");
        }
        String t = text.strip();
        if (t.chars().allMatch(Character::isDigit)) {
            return new KeepRules(count(text, t), 0, 0, 0, 0, 0);
        }
        Map<String, Integer> m = new LinkedHashMap<>();
        for (String part : t.split(",", -1)) {
            String[] kv = part.strip().split("=", -1);
            if (kv.length != 2 || !List.of("last", "hourly", "daily", "weekly", "monthly", "yearly").contains(kv[0])) {
                throw bad(text, "'" + part + "' is not RULE=COUNT with RULE one of last, hourly, daily, weekly, "
                        + "monthly, yearly");
            }
            if (m.put(kv[0], count(text, kv[1])) != null) {
                throw bad(text, kv[0] + " is given twice");
            }
        }
        return new KeepRules(m.getOrDefault("last", 0), m.getOrDefault("hourly", 0), m.getOrDefault("daily", 0),
                m.getOrDefault("weekly", 0), m.getOrDefault("monthly", 0), m.getOrDefault("yearly", 0));
    }

    /** The canonical text, which {@link #parse} reads back. */
    @Override
    public String toString() {
        List<String> out = new ArrayList<>();
        add(out, "last", last);
        add(out, "hourly", hourly);
        add(out, "daily", daily);
        add(out, "weekly", weekly);
        add(out, "monthly", monthly);
        add(out, "yearly", yearly);
        return String.join(",", out);
    }

    /** The ids of the points to keep, each with the rules that keep it. */
    public Map<String, List<String>> keep(List<Point> points, ZoneId zone) {
        List<Point> newestFirst = new ArrayList<>(points);
        newestFirst.sort(Comparator.comparing(Point::created).thenComparing(Point::id).reversed());
        Map<String, List<String>> kept = new LinkedHashMap<>();
        for (int i = 0; i < Math.min(last, newestFirst.size()); i++) {
            kept.computeIfAbsent(newestFirst.get(i).id(), k -> new ArrayList<>()).add("last");
        }
        Function<Point, LocalDateTime> local = p -> LocalDateTime.ofInstant(p.created(), zone);
        bucket(kept, newestFirst, hourly, "hourly", p -> local.apply(p).truncatedTo(ChronoUnit.HOURS));
        bucket(kept, newestFirst, daily, "daily", p -> local.apply(p).toLocalDate());
        bucket(kept, newestFirst, weekly, "weekly", p -> {
            var d = local.apply(p).toLocalDate();
            return d.get(IsoFields.WEEK_BASED_YEAR) * 100 + d.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR);
        });
        bucket(kept, newestFirst, monthly, "monthly", p -> local.apply(p).toLocalDate().withDayOfMonth(1));
        bucket(kept, newestFirst, yearly, "yearly", p -> local.apply(p).getYear());
        return kept;
    }

    private static void bucket(Map<String, List<String>> kept, List<Point> newestFirst, int n, String rule,
                               Function<Point, Object> key) {
        Set<Object> seen = new HashSet<>();
        for (Point p : newestFirst) {
            if (seen.size() >= n) {
                break;
            }
            if (seen.add(key.apply(p))) {
                kept.computeIfAbsent(p.id(), k -> new ArrayList<>()).add(rule);
            }
        }
    }

    private static void add(List<String> out, String rule, int n) {
        if (n > 0) {
            out.add(rule + "=" + n);
        }
    }

    private static int count(String text, String s) {
        if (s.isEmpty() || s.length() > 6 || !s.chars().allMatch(Character::isDigit)) {
            throw bad(text, "'" + s + "' is not a count (expected: 0.." + MAX + ")");
        }
        return Integer.parseInt(s);
    }

    private static IllegalArgumentException bad(String text, String why) {
        return new IllegalArgumentException("keep rules '" + text + "': " + why + ". Examples: --keep 10 (the last "
                + "10), --keep hourly=24,daily=7,weekly=4,monthly=12,yearly=2");
    }
}
