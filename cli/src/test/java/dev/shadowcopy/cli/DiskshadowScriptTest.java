package dev.shadowcopy.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DiskshadowScriptTest {
    static String error(String... lines) {
        return assertThrows(DiskshadowScript.ScriptException.class,
                () -> DiskshadowScript.parse("s.dsh", List.of(lines))).getMessage();
    }

    @Test
    void parsesCommentsQuotesAndAliases() throws Exception {
        var l = DiskshadowScript.parse("s.dsh", List.of("# comment", "", "rem also", "SET CONTEXT persistent nowriters",
                "add volume data alias D", "expose %D% \"/mnt/with space\"", "exit"));
        assertEquals(4, l.size());
        assertEquals(4, l.getFirst().number());
        assertEquals(List.of("expose", "%D%", "/mnt/with space"), l.get(2).words());
        assertEquals("id-1/x", DiskshadowScript.substitute("s.dsh", l.get(2), "%D%/x", Map.of("D", "id-1")));
        assertEquals("s.dsh:6: %NOPE_NOT_SET% is not defined (aliases are set by 'add volume … alias NAME' and by "
                + "'create')", assertThrows(DiskshadowScript.ScriptException.class, () -> DiskshadowScript.substitute(
                "s.dsh", l.get(2), "%NOPE_NOT_SET%", Map.of())).getMessage());
    }

    @Test
    void badLinesAreNamedBeforeAnythingRuns() {
        assertEquals("s.dsh:2: unknown command 'creat'", error("add volume v", "creat"));
        assertEquals("s.dsh:1: usage: add volume VOLUME [alias NAME]", error("add volume v alias"));
        assertEquals("s.dsh:1: set verbose takes on or off", error("set verbose maybe"));
        assertEquals("s.dsh:1: unbalanced double quote", error("expose x \"/mnt"));
        assertEquals("s.dsh:3: usage: delete shadows all | set ID | id ID | volume VOLUME | oldest VOLUME",
                error("add volume v", "create", "delete shadows everything"));
        assertEquals("s.dsh:1: create takes no arguments", error("create now"));
    }
}
