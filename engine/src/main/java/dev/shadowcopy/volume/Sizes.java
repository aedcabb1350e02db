package dev.shadowcopy.volume;

import java.math.BigDecimal;
import java.util.Locale;

/** Parsing and printing of byte sizes as admins type them ({@code 64K}, {@code 10GiB}, {@code 1.5T}). */
public final class Sizes {
    private static final String[] UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

    private Sizes() {}

    /** Parses a size; units are binary (K = 1024). A bare number is bytes. */
    public static long parse(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT).replace("_", "");
        int i = 0;
        while (i < t.length() && (Character.isDigit(t.charAt(i)) || t.charAt(i) == '.')) {
            i++;
        }
        if (i == 0) {
            throw new IllegalArgumentException("bad size '" + text + "' (expected a number with an optional unit "
                    + "such as 512, 64K, 10MiB, 2G)");
        }
        String unit = t.substring(i).strip();
        int shift = switch (unit) {
            case "", "b" -> 0;
            case "k", "kb", "kib" -> 10;
            case "m", "mb", "mib" -> 20;
            case "g", "gb", "gib" -> 30;
            case "t", "tb", "tib" -> 40;
            case "p", "pb", "pib" -> 50;
            case "e", "eb", "eib" -> 60;
            default -> throw new IllegalArgumentException("bad size unit '" + unit + "' in '" + text
                    + "' (expected B, K, M, G, T, P or E, optionally followed by B or iB)");
        };
        try {
            BigDecimal value = new BigDecimal(t.substring(0, i)).multiply(BigDecimal.valueOf(2).pow(shift));
            return value.setScale(0, java.math.RoundingMode.UNNECESSARY).longValueExact();
        } catch (ArithmeticException | NumberFormatException e) {
            throw new IllegalArgumentException("bad size '" + text + "' (not a whole number of bytes, or too large)");
        }
    }

    /** Formats with a binary unit and up to 3 decimals: {@code 4.395 GiB}, {@code 512 B}. */
    public static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < UNITS.length - 1) {
            v /= 1024;
            u++;
        }
        String s = String.format(Locale.ROOT, "%.3f", v).replaceAll("\\.?0+$", "");
        return s + " " + UNITS[u];
    }
}
