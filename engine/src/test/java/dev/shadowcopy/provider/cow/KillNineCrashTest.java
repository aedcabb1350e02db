package dev.shadowcopy.provider.cow;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.ChangeTracking;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeLayout;
import dev.shadowcopy.volume.VolumeManager;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * kill -9 of a real process running the engine on a real file system, at random points, many times over the
 * same state directory; after each kill the state is reopened and every shadow copy is checked byte for byte
 * against the model, and the live volume against every acknowledged write.
 *
 * <p>A kill keeps the page cache, so this test proves the in-process side: that the engine's own files
 * (journal, checkpoint, shadow storage) are never left in a state recovery misreads, whatever instruction
 * the kill lands on, including in the middle of a background checkpoint. Lost unsynced writes (power loss)
 * are the simulated-disk tests' job ({@code VolumeEngineContract}: every fault point).
 *
 * <p>{@code -Dshadowcopy.crash.points=N} sets the number of kills per layout (default 150).
 */
class KillNineCrashTest {
    @TempDir
    Path dir;

    private final byte[] live = new byte[CrashChild.SIZE];
    /**
     * Redirect-on-write only: the live content at the last commit point (flush, FUA write, copy creation,
     * revert) and the writes since: a killed process may lose those, as a power loss may.
     */
    private final byte[] committed = new byte[CrashChild.SIZE];
    private final List<long[]> sinceCommit = new ArrayList<>(); // {offset, length, seed or 0 with zeros=1, zeros}
    private final LinkedHashMap<ShadowCopyId, byte[]> copies = new LinkedHashMap<>();
    private final Map<ShadowCopyId, Boolean> persistent = new LinkedHashMap<>();
    private final List<String> history = new ArrayList<>();
    private VolumeLayout layout;

    private static void deleteTree(Path p) throws IOException {
        if (java.nio.file.Files.exists(p)) {
            try (var s = java.nio.file.Files.walk(p)) {
                for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    java.nio.file.Files.delete(x);
                }
            }
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var s = java.nio.file.Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path t = to.resolve(from.relativize(p).toString());
                if (java.nio.file.Files.isDirectory(p)) {
                    java.nio.file.Files.createDirectories(t);
                } else {
                    java.nio.file.Files.copy(p, t);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = VolumeLayout.class, names = {"COPY_ON_WRITE", "REDIRECT_ON_WRITE"})
    void everyCopyAndEveryAcknowledgedWriteSurvivesKillNineAtRandomPoints(VolumeLayout layout) throws Exception {
        this.layout = layout;
        int points = Integer.getInteger("shadowcopy.crash.points", 150);
        Random random = new Random(Long.getLong("shadowcopy.crash.seed", System.nanoTime()));
        long seed0 = random.nextLong();
        System.out.println("KillNineCrashTest: " + points + " kills, seed " + seed0
                + " (rerun with -Dshadowcopy.crash.seed=" + seed0 + ")");
        random = new Random(seed0);
        Path state = dir.resolve("volumes");
        for (int i = 0; i < points; i++) {
            long seed = random.nextLong();
            int acknowledgedBeforeKill = random.nextInt(30);
            int jitterMicros = random.nextInt(3000);
            long checkpointBytes = random.nextBoolean() ? 4096 : 1 << 20;
            try {
                runAndKill(state, seed, acknowledgedBeforeKill, jitterMicros, checkpointBytes);
            } catch (AssertionError | Exception e) {
                e.printStackTrace();
                throw new AssertionError("kill " + i + " (child seed " + seed + ", after " + acknowledgedBeforeKill
                        + " ops + " + jitterMicros + " µs): " + e.getMessage(), e);
            }
        }
    }

    private void runAndKill(Path state, long seed, int acknowledgedBeforeKill, int jitterMicros,
                            long checkpointBytes) throws Exception {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        Path opLog = dir.resolve("ops.log");
        java.nio.file.Files.deleteIfExists(opLog);
        Process child = new ProcessBuilder(javaBin, "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1",
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), CrashChild.class.getName(),
                state.toString(), Long.toString(seed), Long.toString(checkpointBytes), opLog.toString(),
                layout.shortName())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    lines.add(line);
                }
            } catch (IOException e) {
                // the child died: its pipe closed
            } finally {
                lines.add("EOF");
            }
        });
        reader.start();
        List<String> seen = new ArrayList<>();
        int oks = -1;
        while (oks < acknowledgedBeforeKill) {
            String line = lines.poll(60, TimeUnit.SECONDS);
            if (line == null) {
                child.destroyForcibly();
                fail("child produced no output for 60 s");
            }
            if (line.equals("EOF")) {
                fail("child exited by itself with code " + child.waitFor() + " after: " + tail(seen));
            }
            seen.add(line);
            if (line.equals("READY") || line.equals("OK")) {
                oks++;
            }
        }
        long until = System.nanoTime() + jitterMicros * 1000L;
        while (System.nanoTime() < until) {
            Thread.onSpinWait(); // picks the instruction the kill lands on; not a wait for anything
        }
        child.destroyForcibly(); // SIGKILL
        child.waitFor(60, TimeUnit.SECONDS);
        reader.join(60_000);
        // The authoritative record of what the child did is its log file, written before each step.
        seen = new ArrayList<>(java.nio.file.Files.readAllLines(opLog));
        if (!seen.isEmpty() && !java.nio.file.Files.readString(opLog).endsWith("\n")) {
            seen.removeLast(); // a line cut by the kill: its step never started
        }
        history.add("--- kill after: " + tail(seen));
        Path keep = Path.of(System.getProperty("java.io.tmpdir"), "killnine-state-before-verify");
        if (Boolean.getBoolean("shadowcopy.crash.keep")) {
            deleteTree(keep);
            copyTree(dir, keep); // the state as the kill left it, before recovery touches it
        }
        try {
            verify(state, seen);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n  state (with -Dshadowcopy.crash.keep=true) in " + keep
                    + "\n  history:\n"
                    + String.join("\n", history.subList(Math.max(0, history.size() - 8), history.size())), e);
        }
    }

    /** Applies acknowledged operations to the model, then checks the reopened state. */
    private void verify(Path state, List<String> lines) throws IOException {
        String[] inDoubt = null;
        byte[] liveBefore = null;
        for (String line : lines) {
            if (line.equals("READY")) {
                continue;
            }
            if (line.startsWith("REL ")) {
                ShadowCopyId id = ShadowCopyId.parse(line.substring(4));
                copies.remove(id);
                persistent.remove(id);
                continue;
            }
            if (line.startsWith("B ")) {
                inDoubt = line.substring(2).split(" ");
                liveBefore = live.clone();
                applying = inDoubt;
                apply(inDoubt);
                continue;
            }
            if (line.equals("OK")) {
                if (applying != null && commitsOnSuccess(applying)) {
                    commitPoint(); // the operation that committed did complete
                }
                applying = null;
                inDoubt = null;
                liveBefore = null;
                continue;
            }
            fail("unexpected line from child: " + line);
        }
        try (VolumeManager manager = VolumeManager.open(state, VolumeEvents.NONE)) {
            ManagedVolume v = manager.get(CrashChild.VOLUME);
            checkCopies(v, inDoubt, liveBefore);
            byte[] recovered = read(v, null);
            checkLive(recovered, inDoubt, liveBefore);
            checkChangeTracking(v, recovered);
            System.arraycopy(recovered, 0, live, 0, live.length);
            commitPoint(); // reopening (and closing) made everything durable
        }
    }

    private void apply(String[] op) {
        switch (op[0]) {
            case "W" -> {
                byte[] data = Segments.random(Integer.parseInt(op[2]), Integer.parseInt(op[3]));
                System.arraycopy(data, 0, live, Integer.parseInt(op[1]), data.length);
                sinceCommit.add(new long[] {Long.parseLong(op[1]), Long.parseLong(op[2]), Long.parseLong(op[3]), 0});
            }
            case "T" -> {
                Arrays.fill(live, Integer.parseInt(op[1]), Integer.parseInt(op[1]) + Integer.parseInt(op[2]), (byte) 0);
                sinceCommit.add(new long[] {Long.parseLong(op[1]), Long.parseLong(op[2]), 0, 1});
            }
            case "F" -> { }
            case "C" -> {
                ShadowCopyId id = ShadowCopyId.parse(op[1]);
                copies.put(id, live.clone());
                persistent.put(id, op[2].equals("1"));
            }
            case "D" -> {
                copies.remove(ShadowCopyId.parse(op[1]));
                persistent.remove(ShadowCopyId.parse(op[1]));
            }
            case "R" -> {
                ShadowCopyId target = ShadowCopyId.parse(op[1]);
                System.arraycopy(copies.get(target), 0, live, 0, live.length);
                boolean later = false;
                for (var it = copies.keySet().iterator(); it.hasNext(); ) {
                    ShadowCopyId id = it.next();
                    if (later) {
                        it.remove();
                        persistent.remove(id);
                    }
                    later |= id.equals(target);
                }
            }
            default -> fail("unknown op " + op[0]);
        }
    }

    /** The operation being applied; it moves the commit point only once it is acknowledged. */
    private String[] applying;

    private static boolean commitsOnSuccess(String[] op) {
        return switch (op[0]) {
            case "F", "C", "R" -> true;
            case "W" -> op.length > 4 && op[4].equals("1");
            default -> false;
        };
    }

    private void commitPoint() {
        System.arraycopy(live, 0, committed, 0, live.length);
        sinceCommit.clear();
    }

    /** Redirect-on-write: every byte is its committed value or one written since the last commit point. */
    private void checkAgainstCommitPoint(byte[] recovered) {
        for (int i = 0; i < recovered.length; i++) {
            if (recovered[i] == committed[i] || recovered[i] == live[i]) {
                continue;
            }
            boolean ok = false;
            for (long[] w : sinceCommit) {
                if (i >= w[0] && i < w[0] + w[1]) {
                    byte v = w[3] == 1 ? 0 : Segments.random((int) w[1], (int) w[2])[(int) (i - w[0])];
                    if (v == recovered[i]) {
                        ok = true;
                        break;
                    }
                }
            }
            if (!ok) {
                fail("live byte " + i + " is " + recovered[i] + ": not its value at the last commit point ("
                        + committed[i] + ") nor any value written since");
            }
        }
    }

    /**
     * The model has applied the in-doubt operation; {@code before} is the live content before it. Copies the
     * in-doubt operation may have removed (or created) may be absent (or present).
     */
    private void checkCopies(ManagedVolume v, String[] inDoubt, byte[] liveBefore) throws IOException {
        // non-persistent copies are released when the volume is opened again
        for (var e : new ArrayList<>(persistent.entrySet())) {
            if (!e.getValue()) {
                copies.remove(e.getKey());
                persistent.remove(e.getKey());
            }
        }
        Map<ShadowCopyId, ShadowCopyInfo> actual = new LinkedHashMap<>();
        for (ShadowCopyInfo info : v.shadowCopies()) {
            actual.put(info.id(), info);
        }
        // copies the model dropped because of the in-doubt op may still exist (delete/revert not durable)
        Map<ShadowCopyId, byte[]> mayExist = new LinkedHashMap<>();
        if (inDoubt != null && inDoubt[0].equals("D")) {
            mayExist.put(ShadowCopyId.parse(inDoubt[1]), null);
        }
        boolean writeInDoubt = inDoubt != null && (inDoubt[0].equals("W") || inDoubt[0].equals("T"));
        boolean allowMissingPrefix = writeInDoubt; // a write may have released the oldest copies
        boolean missingSoFar = true;
        for (var it = copies.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (actual.containsKey(e.getKey())) {
                missingSoFar = false;
                assertArrayEquals(e.getValue(), read(v, e.getKey()), "content of shadow copy " + e.getKey());
                continue;
            }
            boolean createdInDoubt = inDoubt != null && inDoubt[0].equals("C")
                    && ShadowCopyId.parse(inDoubt[1]).equals(e.getKey());
            if (createdInDoubt || (allowMissingPrefix && missingSoFar)) {
                it.remove();
                persistent.remove(e.getKey());
                continue;
            }
            fail("shadow copy " + e.getKey() + " vanished; in-doubt op: " + Arrays.toString(inDoubt));
        }
        for (ShadowCopyId id : actual.keySet()) {
            if (!copies.containsKey(id)) {
                if (inDoubt != null && inDoubt[0].equals("R")) {
                    // a revert that did not become durable leaves the later copies; they hold what they held
                    continue;
                }
                assertTrue(mayExist.containsKey(id), "engine lists a shadow copy " + id + " the model does not have");
            }
        }
        if (inDoubt != null && (inDoubt[0].equals("D") || inDoubt[0].equals("R"))) {
            // adopt what the engine has: those copies' contents were checked when they were created
            copies.keySet().retainAll(actual.keySet());
            for (ShadowCopyId id : actual.keySet()) {
                if (!copies.containsKey(id)) {
                    copies.put(id, read(v, id));
                    persistent.put(id, true);
                }
            }
            List<ShadowCopyId> order = new ArrayList<>(actual.keySet());
            LinkedHashMap<ShadowCopyId, byte[]> sorted = new LinkedHashMap<>();
            for (ShadowCopyId id : order) {
                sorted.put(id, copies.get(id));
            }
            copies.clear();
            copies.putAll(sorted);
        }
    }

    private void checkLive(byte[] recovered, String[] inDoubt, byte[] before) {
        if (layout == VolumeLayout.REDIRECT_ON_WRITE) {
            if (inDoubt != null && inDoubt[0].equals("R") && Arrays.equals(live, recovered)) {
                return; // the revert completed
            }
            checkAgainstCommitPoint(recovered);
            return;
        }
        if (inDoubt == null || inDoubt[0].equals("F") || inDoubt[0].equals("C") || inDoubt[0].equals("D")) {
            assertArrayEquals(live, recovered, "live volume after kill (every acknowledged write is kept)");
            return;
        }
        if (inDoubt[0].equals("R")) {
            if (!Arrays.equals(live, recovered) && !Arrays.equals(before, recovered)) {
                fail("live volume after a killed revert is neither the target copy nor the volume before it");
            }
            return;
        }
        for (int i = 0; i < live.length; i++) {
            if (recovered[i] != live[i] && recovered[i] != before[i]) {
                fail("live byte " + i + " is " + recovered[i] + ": neither before (" + before[i] + ") nor after ("
                        + live[i] + ") the interrupted " + inDoubt[0]);
            }
        }
    }

    /**
     * Change tracking never misses a change across the kill: every chunk where the recovered live volume differs
     * from a surviving copy is reported as changed since that copy (more may be reported).
     */
    private static void checkChangeTracking(ManagedVolume v, byte[] live) throws IOException {
        for (ShadowCopyInfo c : v.shadowCopies()) {
            if (c.sequence() < v.trackingSince()) {
                continue; // tracking says it cannot vouch for that far back
            }
            boolean[] changed = ChangeTracking.changedChunks(v, c.sequence(), CrashChild.SIZE, CrashChild.CHUNK);
            ChangeTracking.assertNoMissedChange(changed, live, read(v, c.id()), CrashChild.CHUNK,
                    "shadow copy " + c.id() + " (sequence " + c.sequence() + ")");
        }
    }

    private static byte[] read(ManagedVolume v, ShadowCopyId copy) throws IOException {
        var s = Segments.allocate(CrashChild.SIZE);
        if (copy == null) {
            v.read(0, s);
        } else {
            v.shadowCopy(copy).read(0, s);
        }
        return Segments.bytes(s);
    }

    private static String tail(List<String> lines) {
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }
}
