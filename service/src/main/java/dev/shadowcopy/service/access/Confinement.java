package dev.shadowcopy.service.access;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/**
 * Every path the API takes, made canonical and (for operators) confined to the roots the administrator
 * configured.
 *
 * <p>Canonical: absolute, no NUL byte, no {@code .} or {@code ..} element, and every symbolic link in the part
 * that exists resolved ({@code realpath}); what does not exist yet is appended as given (it cannot be a link).
 * Confined: the canonical path is a configured root or lies below one. Because the roots are checked at start
 * to be writable only by root ({@link AccessConfig}), an operator cannot plant a link inside one between this
 * check and the service's use of the path.
 */
public final class Confinement {
    private Confinement() {}

    /** The canonical form of {@code raw}, or an INVALID_ARGUMENT error naming {@code what} and the remedy. */
    public static Path canonical(String raw, String what) throws ServiceException {
        if (raw == null || raw.isEmpty()) {
            throw invalid(what + " is required");
        }
        if (raw.indexOf('\0') >= 0) {
            throw invalid(what + " contains a NUL byte; give a plain path");
        }
        Path p;
        try {
            p = Path.of(raw);
        } catch (InvalidPathException e) {
            throw invalid(what + " '" + printable(raw) + "' is not a valid path: " + e.getReason());
        }
        if (!p.isAbsolute()) {
            throw invalid(what + " '" + printable(raw) + "' must be an absolute path (the service resolves it, not "
                    + "your shell)");
        }
        for (Path element : p) {
            String e = element.toString();
            if (e.equals("..") || e.equals(".")) {
                throw invalid(what + " '" + printable(raw) + "' contains '" + e + "'; give the path without it");
            }
        }
        try {
            return resolveExisting(p);
        } catch (IOException e) {
            throw invalid("cannot resolve " + what + " '" + printable(raw) + "': " + e.getMessage());
        }
    }

    /**
     * The canonical form of {@code raw}, which must be one of {@code roots} (canonical themselves) or lie below
     * one; else an ACCESS_DENIED error that names the roots.
     */
    public static Path confine(String raw, List<Path> roots, String what) throws ServiceException {
        Path p = canonical(raw, what);
        for (Path root : roots) {
            if (p.startsWith(root)) {
                return p;
            }
        }
        throw new ServiceException(VssError.ACCESS_DENIED, what + " '" + p + "' is outside the "
                + (roots.isEmpty() ? "(no) roots configured for operators" : "roots configured for operators " + roots)
                + "; ask the administrator to add it to " + AccessConfig.FILE + ", or use a path under one of them");
    }

    /** realpath of the longest existing prefix, then the rest as given. */
    private static Path resolveExisting(Path p) throws IOException {
        Path existing = p;
        while (existing != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return p.normalize();
        }
        Path real = existing.toRealPath();
        return real.resolve(existing.relativize(p)).normalize();
    }

    static ServiceException invalid(String message) {
        return new ServiceException(VssError.INVALID_ARGUMENT, message);
    }

    static String printable(String s) {
        String t = s.replaceAll("[^\\x20-\\x7e]", "?");
        return t.length() <= 200 ? t : t.substring(0, 197) + "...";
    }
}
