package dev.shadowcopy.attach;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.attach.fuse.FuseMount;
import dev.shadowcopy.attach.keep.HolderStore;
import dev.shadowcopy.attach.loop.DeviceUsers;
import dev.shadowcopy.attach.loop.LoopDevices;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.volume.FileDevice;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * What the attacher does at start with what an earlier process left: a connection its holder kept is taken
 * over on the same loop device (data written before and after read back); a connection that died with its
 * holder is made again on a new loop device, the dead one detached if unused and reported if still mounted.
 */
@Tag("host")
class AttacherRestartTest {
    @TempDir
    Path tmp;
    Path state;
    final List<Process> children = new ArrayList<>();
    Attacher attacher;

    @BeforeEach
    void setUp() throws Exception {
        Host.requireRoot();
        state = Files.createDirectories(tmp.resolve("state"));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        if (attacher != null) {
            for (Attachment a : attacher.list()) {
                for (String m : DeviceUsers.mountPoints(a.loopDevice())) {
                    Host.run("umount", "-l", m);
                }
                attacher.detach(a.key(), true);
            }
            attacher.close();
        }
        killHolder();
        Path root = state.resolve("attach");
        for (String loop : LoopDevices.attachedUnder(root).keySet()) {
            for (String m : DeviceUsers.mountPoints(loop)) {
                Host.run("umount", "-l", m);
            }
            Host.run("losetup", "-d", loop);
        }
    }

    private String startChild() throws Exception {
        Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                AttachChild.class.getName(), state.toString()).redirectErrorStream(true).start();
        children.add(p);
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        StringBuilder seen = new StringBuilder();
        while ((line = r.readLine()) != null) { // ends when the child prints READY or dies
            seen.append(line).append('\n');
            if (line.startsWith("READY ")) {
                Thread.ofVirtual().start(() -> r.lines().forEach(l -> { }));
                return line.substring(6).strip();
            }
        }
        throw new AssertionError("the child died before attaching: " + seen);
    }

    private void killHolder() throws Exception {
        String socket = state.resolve("holder.sock").toString();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                try {
                    String cmd = Files.readString(p.resolve("cmdline"));
                    if (cmd.contains("HolderProcess") && cmd.contains(socket)) {
                        ProcessHandle h = ProcessHandle.of(Long.parseLong(p.getFileName().toString())).orElseThrow();
                        h.destroyForcibly();
                        h.onExit().get(10, TimeUnit.SECONDS);
                    }
                } catch (java.io.IOException | RuntimeException e) {
                    // not a process of interest
                }
            }
        }
    }

    private Attacher restartInProcess(List<Attacher.Outcome> outcomes) throws Exception {
        FileDevice device = FileDevice.open(state.resolve("disk.img"), false);
        Attacher a = new Attacher(state, new HolderStore(state.resolve("holder.sock"), state.resolve("holder.log")));
        outcomes.addAll(a.start(k -> k.equals("volume/v") ? device : null, p -> false));
        return a;
    }

    @Test
    void aConnectionTheHolderKeptIsTakenOverOnTheSameLoopDevice() throws Exception {
        String loop = startChild();
        byte[] block = new byte[1 << 20];
        new Random(3).nextBytes(block);
        try (RandomAccessFile f = new RandomAccessFile(loop, "rw")) {
            f.seek(5 << 20);
            f.write(block);
            f.getFD().sync();
        }
        children.getFirst().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        List<Attacher.Outcome> outcomes = new ArrayList<>();
        attacher = restartInProcess(outcomes);
        assertEquals(Attacher.Outcome.Kind.ADOPTED, outcomes.getFirst().kind(), outcomes.toString());
        assertEquals(loop, attacher.find("volume/v").orElseThrow().loopDevice());
        byte[] back = new byte[block.length];
        try (RandomAccessFile f = new RandomAccessFile(loop, "r")) {
            f.seek(5 << 20);
            f.readFully(back);
        }
        assertArrayEquals(block, back);
    }

    @Test
    void aConnectionLostWithItsHolderIsMadeAgainAndAMountedDeadDeviceIsReported() throws Exception {
        String loop = startChild();
        Host.run("mkfs.ext4", "-q", loop);
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        Host.run("mount", loop, mnt.toString());
        Files.writeString(mnt.resolve("f"), "kept");
        Host.run("sync");
        children.getFirst().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        killHolder(); // both gone: the kernel ends the connection
        List<Attacher.Outcome> outcomes = new ArrayList<>();
        attacher = restartInProcess(outcomes);
        String text = outcomes.toString();
        assertTrue(outcomes.stream().anyMatch(o -> o.kind() == Attacher.Outcome.Kind.LOST
                && o.message().contains("mounted on " + mnt)), text);
        String fresh = attacher.find("volume/v").orElseThrow().loopDevice();
        assertNotEquals(loop, fresh, text);
        Host.run("umount", "-l", mnt.toString()); // the admin lets go of the dead device: it goes away by itself
        assertTrue(LoopDevices.awaitDetached(loop, java.time.Duration.ofSeconds(10)), loop + " still attached");
        Path m2 = Files.createDirectories(tmp.resolve("m2"));
        Host.run("mount", "-o", "ro", fresh, m2.toString());
        try {
            assertEquals("kept", Files.readString(m2.resolve("f")), "synced data is on the volume");
        } finally {
            Host.run("umount", m2.toString());
        }
        assertTrue(FuseMount.isMounted(state.resolve("attach").resolve("volume_v")));
    }

    @Test
    void anUnusedDeadDeviceIsDetachedAndTheVolumeAttachedAgain() throws Exception {
        String loop = startChild();
        children.getFirst().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        killHolder();
        List<Attacher.Outcome> outcomes = new ArrayList<>();
        attacher = restartInProcess(outcomes);
        assertTrue(outcomes.stream().anyMatch(o -> o.kind() == Attacher.Outcome.Kind.REATTACHED), outcomes.toString());
        assertTrue(outcomes.stream().noneMatch(o -> o.kind() == Attacher.Outcome.Kind.LOST), outcomes.toString());
        String fresh = attacher.find("volume/v").orElseThrow().loopDevice();
        assertEquals(List.of(fresh), LoopDevices.attachedUnder(state.resolve("attach")).keySet().stream().toList(),
                "only the new loop device remains (the old " + loop + " was detached)");
    }
}
