package dev.shadowcopy.service.schedule;

import dev.shadowcopy.image.maintenance.Retention;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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

    /** The ids of the points to keep, each with the rules that keep it (the selection {@code backups prune} uses). */
    public Map<String, List<String>> keep(List<Point> points, ZoneId zone) {
        return Retention.select(points.stream().map(p -> new Retention.Point(p.id(), p.created())).toList(), zone,
                last, hourly, daily, weekly, monthly, yearly);
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
