package dev.shadowcopy.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A diskshadow script, parsed: one command per line, {@code #} or {@code rem} comments, words separated by
 * blanks (double quotes keep blanks in a word). {@link #parse} checks every line before anything runs, so
 * a script with a typo on line 9 does nothing at all; the error names the file and the line.
 */
final class DiskshadowScript {
    /** One command: its line number and words (not yet alias-substituted). */
    record Line(int number, String text, List<String> words) {
        String word(int i) {
            return i < words.size() ? words.get(i) : "";
        }

        String lower(int i) {
            return word(i).toLowerCase(Locale.ROOT);
        }
    }

    static final class ScriptException extends Exception {
        ScriptException(String file, int line, String message) {
            super(file + ":" + line + ": " + message);
        }
    }

    private static final Pattern ALIAS = Pattern.compile("%([A-Za-z0-9_]+)%");

    private DiskshadowScript() {}

    static List<Line> parse(String file, List<String> text) throws ScriptException {
        List<Line> out = new ArrayList<>();
        for (int i = 0; i < text.size(); i++) {
            String raw = text.get(i).strip();
            if (raw.isEmpty() || raw.startsWith("#") || raw.toLowerCase(Locale.ROOT).startsWith("rem ")
                    || raw.equalsIgnoreCase("rem")) {
                continue;
            }
            List<String> words = split(file, i + 1, raw);
            Line l = new Line(i + 1, raw, words);
            check(file, l);
            out.add(l);
        }
        return out;
    }

    private static List<String> split(String file, int line, String s) throws ScriptException {
        List<String> words = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        boolean quoted = false;
        boolean any = false;
        for (char c : s.toCharArray()) {
            if (c == '"') {
                quoted = !quoted;
                any = true;
            } else if (Character.isWhitespace(c) && !quoted) {
                if (any) {
                    words.add(w.toString());
                    w.setLength(0);
                    any = false;
                }
            } else {
                w.append(c);
                any = true;
            }
        }
        if (quoted) {
            throw new ScriptException(file, line, "unbalanced double quote");
        }
        if (any) {
            words.add(w.toString());
        }
        return words;
    }

    /** Syntax of each command (what diskshadow accepts, minus what has no meaning here). */
    private static void check(String file, Line l) throws ScriptException {
        String cmd = l.lower(0);
        int n = l.words().size();
        String err = switch (cmd) {
            case "set" -> switch (l.lower(1)) {
                case "context" -> n >= 3 ? null : "set context needs a context (persistent, volatile, clientaccessible, "
                        + "optionally followed by nowriters)";
                case "option" -> n >= 3 ? null : "set option needs options (differential, transportable, noautorecover, "
                        + "rollbackrecover, txfrecover)";
                case "verbose" -> n == 3 && (l.lower(2).equals("on") || l.lower(2).equals("off")) ? null
                        : "set verbose takes on or off";
                case "metadata" -> n == 3 ? null : "set metadata takes a file name";
                default -> "unknown set command '" + l.word(1) + "' (context, option, verbose, metadata)";
            };
            case "add" -> l.lower(1).equals("volume") && (n == 3 || (n == 5 && l.lower(3).equals("alias"))) ? null
                    : "usage: add volume VOLUME [alias NAME]";
            case "create", "exit", "quit", "reset" -> n == 1 ? null : cmd + " takes no arguments";
            case "begin", "end" -> n == 2 && l.lower(1).equals("backup") ? null : "usage: " + cmd + " backup";
            case "writer" -> n == 3 && (l.lower(1).equals("verify") || l.lower(1).equals("exclude")) ? null
                    : "usage: writer verify|exclude NAME";
            case "list" -> (l.lower(1).equals("shadows") || l.lower(1).equals("writers") || l.lower(1).equals("volumes"))
                    ? null : "usage: list shadows [all|set ID|id ID] | list writers | list volumes";
            case "delete" -> l.lower(1).equals("shadows") && n >= 3 && switch (l.lower(2)) {
                case "all" -> n == 3;
                case "set", "id", "volume", "oldest" -> n == 4;
                default -> false;
            } ? null : "usage: delete shadows all | set ID | id ID | volume VOLUME | oldest VOLUME";
            case "expose" -> n == 3 ? null : "usage: expose %ALIAS%|ID DIRECTORY";
            case "unexpose" -> n == 2 ? null : "usage: unexpose %ALIAS%|ID";
            case "exec" -> n >= 2 ? null : "usage: exec FILE [ARGUMENTS]";
            default -> "unknown command '" + l.word(0) + "'";
        };
        if (err != null) {
            throw new ScriptException(file, l.number(), err);
        }
    }

    /** Replaces {@code %NAME%} by an alias or an environment variable; an unknown name is an error. */
    static String substitute(String file, Line l, String word, Map<String, String> aliases) throws ScriptException {
        Matcher m = ALIAS.matcher(word);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            String name = m.group(1);
            String v = aliases.get(name.toUpperCase(Locale.ROOT));
            if (v == null) {
                v = System.getenv(name);
            }
            if (v == null) {
                throw new ScriptException(file, l.number(), "%" + name + "% is not defined (aliases are set by 'add "
                        + "volume … alias NAME' and by 'create')");
            }
            m.appendReplacement(b, Matcher.quoteReplacement(v));
        }
        m.appendTail(b);
        return b.toString();
    }
}
