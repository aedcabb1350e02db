package dev.shadowcopy.testing;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

/** A missing host prerequisite skips a test with the reason, unless the run says the host must have it (CI). */
class HostTest {
    private static final String MISSING = "shadowcopy-no-such-program-" + ProcessHandle.current().pid();

    @Test
    void aMissingProgramSkipsTheTest() {
        String before = System.getProperty(Host.REQUIRED);
        System.setProperty(Host.REQUIRED, "false");
        try {
            assertThrows(TestAbortedException.class, () -> Host.requireProgram(MISSING));
        } finally {
            restore(before);
        }
    }

    @Test
    void underTheRequiredSwitchAMissingProgramFailsTheTest() {
        String before = System.getProperty(Host.REQUIRED);
        System.setProperty(Host.REQUIRED, "true");
        try {
            assertThrows(AssertionError.class, () -> Host.requireProgram(MISSING));
        } finally {
            restore(before);
        }
    }

    private static void restore(String before) {
        if (before == null) {
            System.clearProperty(Host.REQUIRED);
        } else {
            System.setProperty(Host.REQUIRED, before);
        }
    }
}
