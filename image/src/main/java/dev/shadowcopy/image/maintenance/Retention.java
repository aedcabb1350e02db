package dev.shadowcopy.image.maintenance;

import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.temporal.IsoFields;
import java.util.ArrayList;
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
        List<Point> newestFirst = new ArrayList<>(points);
        newestFirst.sort((a, b) -> b.created().compareTo(a.created()) != 0 ? b.created().compareTo(a.created())
                : b.id().compareTo(a.id()));
        Map<String, List<String>> kept = new LinkedHashMap<>();
        if (!any()) {
            newestFirst.forEach(p -> kept.computeIfAbsent(p.id(), k -> new ArrayList<>()).add("no rule"));
            return kept;
        }
        for (int i = 0; i < Math.min(keepLast, newestFirst.size()); i++) {
            kept.computeIfAbsent(newestFirst.get(i).id(), k -> new ArrayList<>()).add("last");
        }
        bucket(kept, newestFirst, keepDaily, "daily", this::day);
        bucket(kept, newestFirst, keepWeekly, "weekly", p -> {
            LocalDate d = day(p);
            return d.get(IsoFields.WEEK_BASED_YEAR) * 100 + d.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR);
        });
        bucket(kept, newestFirst, keepMonthly, "monthly", p -> day(p).withDayOfMonth(1));
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

    private LocalDate day(Point p) {
        return p.created().atZone(zone).toLocalDate();
    }
}
