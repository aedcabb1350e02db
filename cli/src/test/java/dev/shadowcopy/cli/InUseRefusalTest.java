package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * Nothing pulls a device from under a mounted or open file system: detach, delete, revert, restore over a
 * volume and unexpose refuse while the device (or mount) is in use and name what uses it; {@code --force}
 * does it anyway and says what it breaks.
 */
@Tag("host")
class InUseRefusalTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;
    Path mnt;
    String device;
    Process holder;

    @BeforeEach
    void setUp() throws Exception {
        Host.requireRoot();
        daemon = new DaemonProcess(tmp.resolve("state")).start();
        daemon.cli("volume", "create", "data", "--size", "64M").ok();
        device = daemon.cli("volume", "attach", "data").ok().out().strip();
        sh("mkfs.ext4 -q " + device).ok();
        mnt = Files.createDirectories(tmp.resolve("mnt"));
        sh("mount " + device + " " + mnt + " && echo one > " + mnt + "/file && sync").ok();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (holder != null) {
            holder.destroyForcibly();
            holder.waitFor(10, TimeUnit.SECONDS);
        }
        sh("umount -l " + mnt + " 2>/dev/null; true");
        if (daemon != null) {
            daemon.close();
        }
    }

    private void assertRefusedNaming(DaemonProcess.Result r, String what) {
        assertNotEquals(0, r.exit(), "expected a refusal: " + r.out());
        assertTrue(r.err().contains("VOLUME_IN_USE"), r.err());
        assertTrue(r.err().contains(what), "the error names " + what + ": " + r.err());
    }

    private void assertStillServing() throws Exception {
        sh("echo more >> " + mnt + "/file && sync " + mnt + "/file").ok();
        assertEquals(device, volume().path("device").asText());
    }

    private JsonNode volume() throws Exception {
        return Json.MAPPER.readTree(daemon.cli("volume", "list", "--json").ok().out()).path("volumes").get(0);
    }

    @Test
    void detachIsRefusedWhileMountedAndNamesTheMountPoint() throws Exception {
        assertRefusedNaming(daemon.cli("volume", "detach", "data"), "mounted on " + mnt);
        assertStillServing();
        sh("umount " + mnt).ok();
        daemon.cli("volume", "detach", "data").ok();
        assertTrue(volume().path("device").isNull(), volume().toString());
    }

    @Test
    void detachIsRefusedWhileAProcessHoldsTheDeviceOpen() throws Exception {
        sh("umount " + mnt).ok();
        holder = new ProcessBuilder("bash", "-c", "exec sleep 600 < " + device).start();
        DaemonProcess.await(java.time.Duration.ofSeconds(10),
                () -> sh0("ls -l /proc/" + holder.pid() + "/fd/0").contains(device), "the holder to open " + device);
        assertRefusedNaming(daemon.cli("volume", "detach", "data"), "open by pid " + holder.pid() + " (sleep)");
        holder.destroyForcibly();
        holder.waitFor(10, TimeUnit.SECONDS);
        daemon.cli("volume", "detach", "data").ok();
    }

    @Test
    void forcedDetachFailsTheFileSystemsIoAndSaysSo() throws Exception {
        DaemonProcess.Result r = daemon.cli("volume", "detach", "data", "--force").ok();
        assertTrue(r.out().contains("Detached"), r.out());
        DaemonProcess.Result write = sh("echo lost > " + mnt + "/file2 && sync -f " + mnt + "/file2");
        assertNotEquals(0, write.exit(), "I/O on a force-detached device fails: " + write.out());
        String events = Files.readString(daemon.state.resolve("events.log"));
        assertTrue(events.contains("\"volume-detached-forced\"") && events.contains("mounted on " + mnt), events);
    }

    @Test
    void deleteAndRevertAreRefusedWhileMounted() throws Exception {
        daemon.cli("create", "shadow", "--for", "data").ok();
        String id = Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out()).path("shadows").get(0)
                .path("id").asText();
        assertRefusedNaming(daemon.cli("revert", "--shadow", id), "mounted on " + mnt);
        DaemonProcess.Result del = daemon.cli("volume", "delete", "data", "--force");
        assertRefusedNaming(del, "mounted on " + mnt);
        assertTrue(del.err().contains("volume detach data --force"), "the error says how to force it: " + del.err());
        assertStillServing();
        sh("umount " + mnt).ok();
        daemon.cli("revert", "--shadow", id).ok(); // attached but unused: allowed
        sh("mount " + device + " " + mnt).ok();
        assertEquals("one", Files.readString(mnt.resolve("file")).strip(), "reverted to the copy");
        sh("umount " + mnt).ok();
        daemon.cli("volume", "delete", "data", "--force").ok(); // detached on the way, then deleted
    }

    @Test
    void restoreOverAnAttachedVolumeIsRefusedNamingItsMount() throws Exception {
        Path repo = tmp.resolve("repo");
        daemon.cli("backup", "--for", "data", "--repo", repo.toString()).ok();
        DaemonProcess.Result r = daemon.cli("restore", "latest", "--volume", "data", "--repo", repo.toString(),
                "--to", "volume:data");
        assertRefusedNaming(r, "mounted on " + mnt);
        assertStillServing();
    }

    @Test
    void unexposeIsRefusedWhileAProcessWorksInTheMount() throws Exception {
        daemon.cli("create", "shadow", "--for", "data").ok();
        String id = Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out()).path("shadows").get(0)
                .path("id").asText();
        Path exposed = tmp.resolve("exposed");
        daemon.cli("expose", id, "--mount", exposed.toString()).ok();
        assertEquals("one", Files.readString(exposed.resolve("file")).strip());
        holder = new ProcessBuilder("sleep", "600").directory(exposed.toFile()).start();
        DaemonProcess.Result r = daemon.cli("unexpose", id);
        assertRefusedNaming(r, exposed.toString());
        assertTrue(r.err().contains("pid " + holder.pid()), r.err());
        assertEquals("one", Files.readString(exposed.resolve("file")).strip(), "still exposed");
        daemon.cli("unexpose", id, "--force").ok();
        assertTrue(List.of(sh("grep -c ' " + exposed + " ' /proc/self/mountinfo").out().strip()).contains("0"));
    }

    private static String sh0(String cmd) {
        try {
            return sh(cmd).out();
        } catch (Exception e) {
            return "";
        }
    }
}
