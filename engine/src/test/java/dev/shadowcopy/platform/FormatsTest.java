package dev.shadowcopy.platform;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Magics are unique, as wide as their field and spell their text on disk; versions and journal kinds are sane. */
class FormatsTest {
    private static List<Field> constants(String suffix) {
        List<Field> out = new ArrayList<>();
        for (Field f : Formats.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && Modifier.isPublic(f.getModifiers())
                    && f.getName().endsWith(suffix)) {
                out.add(f);
            }
        }
        return out;
    }

    @Test
    void everyMagicConstantIsRegisteredWithItsValueAndWidth() throws Exception {
        Map<String, Formats.Magic> byField = new HashMap<>();
        Formats.magics().forEach(m -> byField.put(m.field(), m));
        for (Field f : constants("_MAGIC")) {
            if (f.getName().equals("QCOW2_MAGIC")) {
                continue; // QEMU's, not ours
            }
            Formats.Magic m = byField.get(f.getName());
            assertTrue(m != null, f.getName() + " is not derived from its text with magic4/magic8");
            long value = f.getType() == long.class ? f.getLong(null) : f.getInt(null);
            assertEquals(m.value(), value, f.getName());
            assertEquals(f.getType() == long.class ? 8 : 4, m.text().length(),
                    f.getName() + " is a " + f.getType() + " field");
        }
        assertEquals(constants("_MAGIC").size() - 1, Formats.magics().size(), "a registered magic has no constant");
    }

    @Test
    void magicsAreUniqueAndNoneIsThePrefixOfAnother() {
        List<Formats.Magic> all = Formats.magics();
        for (Formats.Magic a : all) {
            byte[] ab = a.bytes();
            assertArrayEquals(a.text().getBytes(StandardCharsets.US_ASCII), ab, a.field() + " does not spell its text");
            for (Formats.Magic b : all) {
                if (a != b) {
                    byte[] bb = b.bytes();
                    int n = Math.min(ab.length, bb.length);
                    assertFalse(Arrays.equals(ab, 0, n, bb, 0, n), a.field() + " and " + b.field() + " collide");
                }
            }
            assertFalse(a.value() == Formats.QCOW2_MAGIC, a.field() + " is qcow2's magic");
        }
    }

    @Test
    void versionsArePositiveAndJournalKindsDiffer() throws Exception {
        for (String suffix : List.of("_VERSION", "_FORMAT")) {
            for (Field f : constants(suffix)) {
                assertTrue(f.getInt(null) >= 1, f.getName() + " must be a positive version");
            }
        }
        assertTrue(Formats.JOURNAL_KIND_COPY_ON_WRITE != Formats.JOURNAL_KIND_REDIRECT_ON_WRITE);
    }
}
