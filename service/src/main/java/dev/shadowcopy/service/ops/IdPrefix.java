package dev.shadowcopy.service.ops;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/**
 * Shadow copy and set ids as admins type them: the whole UUID, with or without VSS's braces, or a prefix that
 * names exactly one, as {@code backups} commands take backup ids.
 */
final class IdPrefix {
    private IdPrefix() {}

    /** The one id in {@code ids} that {@code given} names; {@code what} and {@code list} word the errors. */
    static String resolve(String given, Collection<String> ids, String what, String list) throws ServiceException {
        String t = given == null ? "" : given.strip();
        if (t.startsWith("{") && t.endsWith("}")) {
            t = t.substring(1, t.length() - 1).strip();
        }
        t = t.toLowerCase(Locale.ROOT);
        if (t.isEmpty() || t.length() > 36 || !t.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                || c == '-')) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "'" + printable(given) + "' is not a " + what
                    + " id (a UUID, or the first characters of one)");
        }
        String prefix = t;
        if (ids.contains(prefix)) {
            return prefix;
        }
        List<String> match = ids.stream().filter(i -> i.startsWith(prefix)).distinct().sorted().toList();
        if (match.size() == 1) {
            return match.getFirst();
        }
        if (match.isEmpty()) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "no " + what + " " + given + " (see '" + list + "')");
        }
        throw new ServiceException(VssError.INVALID_ARGUMENT, what + " id " + given + " is ambiguous: it begins "
                + match.size() + " ids (" + String.join(", ", match.stream().limit(5).toList())
                + (match.size() > 5 ? ", ..." : "") + "); give more characters");
    }

    private static String printable(String s) {
        String t = String.valueOf(s).replaceAll("[^\\x20-\\x7e]", "?");
        return t.length() <= 60 ? t : t.substring(0, 57) + "...";
    }
}
