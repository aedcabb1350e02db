package dev.shadowcopy.image.maintenance;

import java.time.Instant;
import java.time.LocalDate;
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
 * Which backup points a prune keeps, with the rules restic and Proxmox Backup Server use: keep-last N keeps
 * the N newest; keep-daily N keeps the newest point of each of the N most recent days that have points (and
 * likewise per ISO week and per month). A point kept by any rule is kept. Days, weeks and months are counted
 * in {@code zone}. With no rule at all nothing is removed (a prune without rules is refused by the caller).
 */
public record Retention(int keepLast, int keepDaily, int keepWeekly, int keepMonthly, ZoneId zone) {

    public boolean any() {
        return keepLast > 0 || keepDaily > 0 || keepWeekly > 0 || keepMonthly > 0;
    }

    public record Point(String id, Instant created) {}

    /** Ids to keep, with the rules that keep each (for a dry run). */
    public Map<String, List<String>> keep(List<Point> points) {
        if (!any()) {
            Map<String, List<String>> kept = new LinkedHashMap<>();
            newestFirst(points).forEach(p -> kept.computeIfAbsent(p.id(), k -> new ArrayList<>()).add("no rule"));
            return kept;
        }
        return select(points, zone, keepLast, 0, keepDaily, keepWeekly, keepMonthly, 0);
    }

    /**
     * The one selection behind every keep rule (a prune's here, a schedule's {@code KeepRules}): {@code last} keeps
     * the N newest; each calendar rule keeps the newest point of each of the N most recent hours, days, ISO weeks,
     * months or years that have points, counted in {@code zone}. Returns the kept ids, newest first, each with the
     * rules that keep it.
     */
    public static Map<String, List<String>> select(List<Point> points, ZoneId zone, int last, int hourly, int daily,
                                                   int weekly, int monthly, int yearly) {
        List<Point> newestFirst = newestFirst(points);
        Map<String, List<String>> kept = new LinkedHashMap<>();
        for (int i = 0; i < Math.min(last, newestFirst.size()); i++) {
            kept.computeIfAbsent(newestFirst.get(i).id(), k -> new ArrayList<>()).add("last");
        }
        Function<Point, LocalDateTime> local = p -> LocalDateTime.ofInstant(p.created(), zone);
        bucket(kept, newestFirst, hourly, "hourly", p -> local.apply(p).truncatedTo(ChronoUnit.HOURS));
        bucket(kept, newestFirst, daily, "daily", p -> local.apply(p).toLocalDate());
        bucket(kept, newestFirst, weekly, "weekly", p -> {
            LocalDate d = local.apply(p).toLocalDate();
            return d.get(IsoFields.WEEK_BASED_YEAR) * 100 + d.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR);
        });
        bucket(kept, newestFirst, monthly, "monthly", p -> local.apply(p).toLocalDate().withDayOfMonth(1));
        bucket(kept, newestFirst, yearly, "yearly", p -> local.apply(p).getYear());
        return kept;
    }

    private static List<Point> newestFirst(List<Point> points) {
        List<Point> sorted = new ArrayList<>(points);
        sorted.sort(Comparator.comparing(Point::created).thenComparing(Point::id).reversed());
        return sorted;
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
}
