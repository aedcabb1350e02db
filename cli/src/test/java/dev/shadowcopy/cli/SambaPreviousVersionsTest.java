package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.attach.Mounts;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.testing.Host;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Windows' Previous Versions over SMB: a real {@code smbd} (Debian's samba, 127.0.0.1, a high port, a private
 * configuration) serving the section {@code samba-share} prints, and {@code smbclient} as the Windows client:
 * {@code allinfo} lists the copies' {@code @GMT-} tokens and {@code get} of {@code @GMT-…/FILE} returns the old
 * content; copies appear and disappear in the snapshot directory with the shadow copies.
 */
@Tag("host")
class SambaPreviousVersionsTest {
    static final DateTimeFormatter GMT = DateTimeFormatter.ofPattern("'@GMT-'yyyy.MM.dd-HH.mm.ss")
            .withZone(ZoneOffset.UTC);

    @TempDir
    Path tmp;
    DaemonProcess daemon;
    Path mnt;
    Process smbd;
    Path conf;
    int port;

    @BeforeEach
    void start() throws Exception {
        Host.requireRoot();
        for (String tool : new String[] {"smbd", "smbclient", "smbpasswd"}) {
            Host.requireProgram(tool); // .ci/run installs samba, smbclient and samba-vfs-modules
        }
        daemon = new DaemonProcess(tmp.resolve("state")).start();
        daemon.cli("volume", "create", "fs", "--size", "64M").ok();
        String dev = daemon.cli("volume", "attach", "fs").ok().out().trim();
        mnt = tmp.resolve("mnt");
        Files.createDirectories(mnt);
        sh("mkfs.ext4 -q -F " + dev + " && mount " + dev + " " + mnt).ok();
    }

    @AfterEach
    void stop() throws Exception {
        if (smbd != null) {
            smbd.destroy(); // SIGTERM: smbd ends its children
            if (!smbd.waitFor(20, TimeUnit.SECONDS)) {
                smbd.destroyForcibly();
            }
        }
        sh("umount " + mnt + " 2>/dev/null; true");
        if (daemon != null) {
            daemon.close();
        }
    }

    /** smbd on 127.0.0.1 with everything of its own under tmp/samba, and the share section appended. */
    void startSmbd(String section) throws Exception {
        Path s = Files.createDirectories(tmp.resolve("samba"));
        for (String d : new String[] {"pid", "lock", "state", "cache", "private", "ncalrpc"}) {
            Files.createDirectories(s.resolve(d));
        }
        try (ServerSocket free = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = free.getLocalPort();
        }
        conf = s.resolve("smb.conf");
        Files.writeString(conf, "[global]\n  server role = standalone server\n  smb ports = " + port + "\n"
                + "  interfaces = 127.0.0.1\n  bind interfaces only = yes\n  disable netbios = yes\n"
                + "  pid directory = " + s.resolve("pid") + "\n  lock directory = " + s.resolve("lock") + "\n"
                + "  state directory = " + s.resolve("state") + "\n  cache directory = " + s.resolve("cache") + "\n"
                + "  private dir = " + s.resolve("private") + "\n  ncalrpc dir = " + s.resolve("ncalrpc") + "\n"
                + "  passdb backend = tdbsam:" + s.resolve("private/passdb.tdb") + "\n  log file = " + s.resolve("log.%m")
                + "\n  load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  disable spoolss = yes\n\n"
                + section);
        sh("printf 'secret\\nsecret\\n' | smbpasswd -c " + conf + " -s -a root").ok();
        // its own session: smbd signals its whole process group when it ends, which must not be this JVM's
        smbd = new ProcessBuilder("setsid", "smbd", "--foreground", "--no-process-group", "--debug-stdout", "-s", conf.toString())
                .redirectErrorStream(true).redirectOutput(s.resolve("smbd.out").toFile()).start();
        await(Duration.ofSeconds(30), () -> {
            try (Socket c = new Socket()) {
                c.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return true;
            } catch (IOException e) {
                assertTrue(smbd.isAlive(), "smbd exited");
                return false;
            }
        }, "smbd to listen on " + port);
    }

    DaemonProcess.Result smbclient(String command) throws Exception {
        return sh("smbclient //127.0.0.1/data -p " + port + " -U root%secret -s " + conf + " -c '" + command + "'");
    }

    String copy() throws Exception {
        return Json.MAPPER.readTree(daemon.cli("create", "shadow", "--for", "fs", "--nowriters", "--json").ok().out())
                .path("shadows").get(0).path("id").asText();
    }

    Instant created(String id) throws Exception {
        for (JsonNode s : Json.MAPPER.readTree(daemon.cli("list", "shadows", "--json").ok().out()).path("shadows")) {
            if (s.path("id").asText().equals(id)) {
                return Instant.parse(s.path("created").asText());
            }
        }
        throw new AssertionError("no copy " + id);
    }

    @Test
    void explorersPreviousVersionsOfAFileAreTheShadowCopiesOverSmb() throws Exception {
        Path f = mnt.resolve("file.txt");
        Files.writeString(f, "version 1\n");
        String c1 = copy();
        Files.writeString(f, "version 2, the live one\n");
        Path snap = tmp.resolve("shares/previous/fs"); // parents made by the service, reachable by smbd's users
        String section = daemon.cli("samba-share", "fs", "--name", "data", "--snapdir", snap.toString()).ok().out();
        assertTrue(section.startsWith("[data]\n") && section.contains("path = " + mnt + "\n")
                && section.contains("vfs objects = shadow_copy2") && section.contains("shadow:snapdir = " + snap),
                section);
        assertEquals("rwxr-xr-x rwxr-xr-x", sh("stat -c %A " + snap.getParent() + " " + snap + " | cut -c2- | xargs")
                .ok().out().trim());
        String token1 = GMT.format(created(c1));
        assertTrue(Mounts.isMountPoint(snap.resolve(token1)), "the copy is mounted when the command returns");
        assertEquals("version 1\n", Files.readString(snap.resolve(token1).resolve("file.txt")));

        startSmbd(section);
        DaemonProcess.Result info = smbclient("allinfo file.txt").ok();
        assertTrue(info.out().contains(token1), info.out());
        Path got = tmp.resolve("got.txt");
        smbclient("get " + token1 + "/file.txt " + got).ok();
        assertEquals("version 1\n", Files.readString(got));
        smbclient("get file.txt " + got).ok();
        assertEquals("version 2, the live one\n", Files.readString(got));

        // a new copy appears by itself; a deleted one disappears
        Instant after = created(c1).plusSeconds(1);
        await(Duration.ofSeconds(5), () -> Instant.now().isAfter(after), "a new second for the next copy's token");
        Files.writeString(f, "version 3\n");
        String c2 = copy();
        String token2 = GMT.format(created(c2));
        await(Duration.ofSeconds(20), () -> isMountPoint(snap.resolve(token2)), "the new copy in the snapshot dir");
        info = smbclient("allinfo file.txt").ok();
        assertTrue(info.out().contains(token1) && info.out().contains(token2), info.out());
        daemon.cli("delete", "shadows", "--shadow", c1).ok();
        await(Duration.ofSeconds(20), () -> !Files.exists(snap.resolve(token1)), "the deleted copy to go");
        info = smbclient("allinfo file.txt").ok();
        assertFalse(info.out().contains(token1), info.out());
        assertTrue(info.out().contains(token2), info.out());
        smbclient("get " + token2 + "/file.txt " + got).ok();
        assertEquals("version 3\n", Files.readString(got));
    }

    @Test
    void aShareNeedsAMountedVolumeAndASnapshotDirectoryOutsideIt() throws Exception {
        DaemonProcess.Result r = daemon.cli("samba-share", "fs", "--name", "data", "--snapdir",
                mnt.resolve("snaps").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("inside the volume's own mount"), r.err());
        r = daemon.cli("samba-share", "fs", "--name", "data", "--snapdir", daemon.state.resolve("snaps").toString());
        assertTrue(r.exit() == 1 && r.err().contains("private state directory"), r.err());
        daemon.cli("volume", "create", "unmounted", "--size", "16M").ok();
        r = daemon.cli("samba-share", "unmounted", "--name", "u", "--snapdir", tmp.resolve("u").toString());
        assertTrue(r.exit() == 1 && r.err().contains("is not mounted"), r.err());
    }

    static boolean isMountPoint(Path p) {
        try {
            return Mounts.isMountPoint(p);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
