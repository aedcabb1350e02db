package dev.shadowcopy.cli;

import static dev.shadowcopy.cli.DaemonProcess.await;
import static dev.shadowcopy.cli.DaemonProcess.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shadowcopy.service.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The service end to end: a real daemon process, driven only through the CLI (separate processes) and the
 * socket API (curl, from a bash writer).
 */
class ServiceIntegrationTest {
    @TempDir
    Path tmp;
    DaemonProcess daemon;
    final List<Process> spawned = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        daemon = new DaemonProcess(tmp.resolve("state"), "--freeze-timeout", "6").start();
    }

    @AfterEach
    void stop() throws Exception {
        for (Process p : spawned) {
            sh("kill -9 -- -" + p.pid() + " 2>/dev/null; true");
            p.destroyForcibly();
        }
        if (daemon != null) {
            daemon.close();
        }
    }

    JsonNode json(String... args) throws Exception {
        String[] a = new String[args.length + 1];
        System.arraycopy(args, 0, a, 0, args.length);
        a[args.length] = "--json";
        return Json.MAPPER.readTree(daemon.cli(a).ok().out());
    }

    JsonNode shadows() throws Exception {
        return json("list", "shadows").path("shadows");
    }

    String nbd(String export) {
        return "nbd+unix:///" + export + "?socket=" + daemon.state.resolve("nbd.sock");
    }

    /** The first byte of an export (the pattern a qemu-io write left). */
    int firstByte(String export) throws Exception {
        String out = sh("nbdcopy '" + nbd(export) + "' - | head -c 1 | od -An -tu1").ok().out().trim();
        return Integer.parseInt(out);
    }

    Process writer(String name, String mode, Path dir) throws Exception {
        Files.createDirectories(dir);
        Path script = tmp.resolve("external-writer.sh");
        if (!Files.exists(script)) {
            Files.copy(getClass().getResourceAsStream("/external-writer.sh"), script);
            script.toFile().setExecutable(true);
        }
        Process p = new ProcessBuilder("setsid", "bash", script.toString(), daemon.state.resolve("shadowcopy.sock")
                .toString(), name, mode, dir.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("writer.log").toFile()).start();
        spawned.add(p);
        await(Duration.ofSeconds(20), () -> Files.exists(dir.resolve("streaming")), "writer " + name + " to stream");
        return p;
    }

    @Test
    void multiVolumeSetHasOneInstantWhileBothVolumesAreWritten() throws Exception {
        daemon.cli("volume", "create", "a", "--size", "16M").ok();
        daemon.cli("volume", "create", "b", "--size", "16M").ok();
        // a writer that always writes a before b: at any instant a == b or a == b + 1
        Path stop = tmp.resolve("stop");
        Process w = new ProcessBuilder("bash", "-c", "for k in $(seq 1 250); do [ -e " + stop + " ] && break; "
                + "qemu-io -f raw -c \"write -P $k 0 4k\" '" + nbd("a") + "' >/dev/null || exit 1; "
                + "qemu-io -f raw -c \"write -P $k 0 4k\" '" + nbd("b") + "' >/dev/null || exit 1; done").start();
        spawned.add(w);
        List<JsonNode> sets = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            sets.add(json("create", "shadow", "--for", "a,b", "--nowriters"));
        }
        Files.createFile(stop);
        assertTrue(w.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, w.exitValue(), "the writer loop failed");
        int distinct = 0;
        int last = -1;
        for (JsonNode set : sets) {
            JsonNode copies = set.path("shadows");
            assertEquals(2, copies.size());
            assertEquals(copies.get(0).path("set_id").asText(), copies.get(1).path("set_id").asText());
            assertEquals(copies.get(0).path("created").asText(), copies.get(1).path("created").asText(),
                    "one instant for the whole set");
            int a = firstByte(copies.get(0).path("nbd_export").asText());
            int b = firstByte(copies.get(1).path("nbd_export").asText());
            assertEquals("a", copies.get(0).path("volume").asText());
            assertTrue(a == b || a == b + 1, "copies of one set from different instants: a=" + a + " b=" + b);
            if (a != last) {
                distinct++;
                last = a;
            }
        }
        assertTrue(distinct >= 2, "the writer should have moved on between sets");
        assertEquals(12, shadows().size());
    }

    @Test
    void ext4OnAnAttachedVolumeIsFrozenForTheCommitAndWritableAfter() throws Exception {
        daemon.cli("volume", "create", "fs", "--size", "128M").ok();
        String dev = daemon.cli("volume", "attach", "fs").ok().out().trim();
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        try {
            sh("mkfs.ext4 -q -F " + dev).ok();
            sh("mount " + dev + " " + mnt).ok();
            Path stop = tmp.resolve("stop");
            Process w = new ProcessBuilder("bash", "-c", "i=0; while [ ! -e " + stop + " ]; do i=$((i+1)); "
                    + "echo line $i >> " + mnt + "/log; sync -d " + mnt + "/log; done").start();
            spawned.add(w);
            await(Duration.ofSeconds(20), () -> Files.exists(mnt.resolve("log")), "the file writer");
            JsonNode set = json("create", "shadow", "--for", "fs", "--nowriters");
            Files.createFile(stop);
            assertTrue(w.waitFor(30, TimeUnit.SECONDS));
            String id = set.path("shadows").get(0).path("id").asText();
            Path image = tmp.resolve("copy.img");
            sh("nbdcopy '" + nbd("shadow/" + id) + "' " + image).ok();
            String header = sh("dumpe2fs -h " + image + " 2>/dev/null").ok().out();
            assertFalse(header.contains("needs_recovery"), "the copy's journal should be clean (frozen at commit):\n"
                    + header);
            assertTrue(header.contains("Filesystem state:         clean"), header);
            sh("e2fsck -fn " + image).ok();
            // writable again after the commit
            sh("echo after > " + mnt + "/after && sync " + mnt + "/after").ok();
            assertEquals("after\n", Files.readString(mnt.resolve("after")));
            assertFalse(Files.exists(daemon.state.resolve("frozen.json")), "no freeze record left");
        } finally {
            sh("umount " + mnt + " 2>/dev/null; true");
            daemon.cli("volume", "detach", "fs");
        }
    }

    @Test
    void externalWriterThatTimesOutAbortsTheSetAndTheRetrySucceeds() throws Exception {
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        Path dir = tmp.resolve("w1");
        writer("slowpoke", "hang-first-freeze", dir);
        DaemonProcess.Result r = daemon.cli("create", "shadow", "--for", "v");
        assertEquals(75, r.exit(), "a timeout is retryable: " + r);
        assertTrue(r.err().contains("VSS_E_WRITERERROR_TIMEOUT"), r.err());
        assertTrue(r.err().contains("slowpoke"), "the error names the writer: " + r.err());
        assertEquals(0, shadows().size(), "no half-made copy remains");
        await(Duration.ofSeconds(10), () -> read(dir.resolve("events")).contains("abort"), "abort to the writer");
        assertEquals(List.of("prepare-backup", "prepare-snapshot", "freeze", "abort"),
                read(dir.resolve("events")).lines().toList());
        JsonNode writers = json("list", "writers").path("writers");
        assertEquals("FAILED_AT_FREEZE", writers.get(0).path("state").asText());
        assertEquals("TIMEOUT", writers.get(0).path("last_error").asText());

        JsonNode set = json("create", "shadow", "--for", "v");
        assertEquals("application", set.path("shadows").get(0).path("consistency").asText());
        assertEquals(1, shadows().size());
        List<String> all = read(dir.resolve("events")).lines().toList();
        assertEquals(List.of("prepare-backup", "prepare-snapshot", "freeze", "thaw", "post-snapshot", "backup-complete",
                "backup-shutdown"), all.subList(4, all.size()));
    }

    @Test
    void writerKilledDuringFreezeFailsTheSetAtOnce() throws Exception {
        daemon.close();
        daemon = new DaemonProcess(tmp.resolve("state"), "--freeze-timeout", "60").start();
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        Path dir = tmp.resolve("w2");
        Process w = writer("doomed", "hang-freeze", dir);
        Process create = daemon.cliProcess("create", "shadow", "--for", "v");
        await(Duration.ofSeconds(30), () -> Files.exists(dir.resolve("freeze-1")), "the writer to get freeze");
        Instant killed = Instant.now();
        sh("kill -9 -- -" + w.pid()).ok(); // the writer's whole process group, curl included
        DaemonProcess.Result r = DaemonProcess.finish(create, Duration.ofSeconds(60));
        Duration took = Duration.between(killed, Instant.now());
        assertNotEquals(0, r.exit());
        assertTrue(r.err().contains("VSS_E_WRITER_NOT_RESPONDING"), r.err());
        assertTrue(r.err().contains("doomed"), r.err());
        assertTrue(took.compareTo(Duration.ofSeconds(15)) < 0, "noticed in " + took + ", not at the 60 s deadline");
        assertEquals(0, shadows().size());
        JsonNode writers = json("list", "writers").path("writers");
        assertFalse(writers.get(0).path("present").asBoolean(), "the dead writer is gone: " + writers);
        // and the service goes on
        json("create", "shadow", "--for", "v");
        assertEquals(1, shadows().size());
    }

    @Test
    void daemonKilledMidSequenceLeavesNothingHalfMade() throws Exception {
        daemon.close();
        daemon = new DaemonProcess(tmp.resolve("state"), "--freeze-timeout", "60").start();
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        json("create", "shadow", "--for", "v", "--nowriters");
        Path dir = tmp.resolve("w3");
        writer("frozen", "hang-freeze", dir);
        Process create = daemon.cliProcess("create", "shadow", "--for", "v");
        spawned.add(create);
        await(Duration.ofSeconds(30), () -> Files.exists(dir.resolve("freeze-1")), "the writer to get freeze");
        assertTrue(Files.readString(daemon.state.resolve("catalog.json")).contains("\"creating\""),
                "the set is recorded before the provider acts");
        daemon.kill9();
        assertNotEquals(0, DaemonProcess.finish(create, Duration.ofSeconds(30)).exit());
        daemon = new DaemonProcess(tmp.resolve("state"), "--freeze-timeout", "6").start();
        assertEquals(1, shadows().size(), "only the copy made before the crash");
        assertFalse(Files.readString(daemon.state.resolve("catalog.json")).contains("\"creating\""));
        assertFalse(Files.exists(daemon.state.resolve("frozen.json")));
    }

    @Test
    void nonPersistentCopiesAreReleasedWhenTheRequesterDies() throws Exception {
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        Path ready = tmp.resolve("ready");
        Path script = tmp.resolve("backup.dsh");
        Files.writeString(script, """
                # a volatile backup: the copy lives as long as this script
                set context volatile
                set verbose on
                add volume v alias DATA
                create
                exec bash -c "echo %DATA% > %s; exec sleep 600"
                """.replace("%s", ready.toString()));
        Process p = daemon.cliProcess("script", script.toString());
        spawned.add(p);
        await(Duration.ofSeconds(60), () -> Files.exists(ready) && !read(ready).isBlank(), "the script's copy");
        JsonNode copies = shadows();
        assertEquals(1, copies.size());
        assertEquals(read(ready).trim(), copies.get(0).path("id").asText(), "%DATA% was the copy's id");
        assertEquals("backup", copies.get(0).path("context").asText());
        p.destroyForcibly(); // kill -9 of the requester
        await(Duration.ofSeconds(30), () -> {
            try {
                return shadows().isEmpty();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, "auto-release of the dead requester's copy");
    }

    @Test
    void protectedCopiesSurviveDeleteAll() throws Exception {
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        JsonNode kept = json("create", "shadow", "--for", "v", "--protect-until", "2099-01-01");
        json("create", "shadow", "--for", "v");
        DaemonProcess.Result r = daemon.cli("delete", "shadows", "--all", "--quiet");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("protected"), r.err());
        JsonNode left = shadows();
        assertEquals(1, left.size(), "the unprotected copy went, the protected one stayed");
        String id = kept.path("shadows").get(0).path("id").asText();
        assertEquals(id, left.get(0).path("id").asText());
        DaemonProcess.Result again = daemon.cli("delete", "shadows", "--shadow", id);
        assertTrue(again.err().contains("E_ACCESSDENIED"), again.err());
        assertNotEquals(0, daemon.cli("volume", "delete", "v", "--force").exit());
        assertNotEquals(0, daemon.cli("protect", "--shadow", id, "--until", "2030-01-01").exit(),
                "protection cannot be shortened");
        assertTrue(Files.readString(daemon.state.resolve("events.log")).contains("delete-refused"),
                "refusals are logged");
        assertEquals(1, shadows().size());
    }

    @Test
    void persistentCopiesSurviveKillAndRestart() throws Exception {
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        sh("qemu-io -f raw -c 'write -P 7 0 1M' '" + nbd("v") + "'").ok();
        JsonNode persistent = json("create", "shadow", "--for", "v");
        Process holder = daemon.cliProcess("script", write("hold.dsh", """
                set context volatile
                add volume v
                create
                exec bash -c "touch %s; exec sleep 600"
                """.replace("%s", tmp.resolve("held").toString())).toString());
        spawned.add(holder);
        await(Duration.ofSeconds(60), () -> Files.exists(tmp.resolve("held")), "a volatile copy");
        sh("qemu-io -f raw -c 'write -P 9 0 1M' '" + nbd("v") + "'").ok();
        assertEquals(2, shadows().size());
        daemon.kill9();
        holder.destroyForcibly();
        daemon = new DaemonProcess(tmp.resolve("state"), "--freeze-timeout", "6").start();
        JsonNode after = shadows();
        assertEquals(1, after.size(), "the persistent copy stays, the volatile one was released: " + after);
        String id = persistent.path("shadows").get(0).path("id").asText();
        assertEquals(id, after.get(0).path("id").asText());
        assertEquals(7, firstByte("shadow/" + id));
        assertEquals(9, firstByte("v"));
        String out = sh("qemu-io -r -f raw -c 'read -P 7 0 1M' '" + nbd("shadow/" + id) + "'").ok().out();
        assertTrue(out.contains("read 1048576/1048576"), out);
    }

    @Test
    void hookWritersSeeEveryEventInOrder() throws Exception {
        Path hooks = Files.createDirectories(daemon.state.resolve("hooks"));
        Path log = tmp.resolve("hook.log");
        Path hook = hooks.resolve("10-log");
        Files.writeString(hook, "#!/bin/sh\necho \"$1 $SHADOWCOPY_VOLUMES\" >> " + log + "\n");
        hook.toFile().setExecutable(true);
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        json("create", "shadow", "--for", "v");
        assertEquals(List.of("identify ", "prepare-backup v", "prepare-snapshot v", "freeze v", "thaw v",
                "post-snapshot v", "backup-complete ", "backup-shutdown "), read(log).lines().toList());
        Files.writeString(hook, "#!/bin/sh\n[ \"$1\" = freeze ] && { echo 'database busy' ; exit 75; }\nexit 0\n");
        DaemonProcess.Result r = daemon.cli("create", "shadow", "--for", "v");
        assertEquals(75, r.exit(), r.toString());
        assertTrue(r.err().contains("VSS_E_WRITERERROR_RETRYABLE") && r.err().contains("hook:10-log")
                && r.err().contains("database busy"), r.err());
        assertEquals(1, shadows().size());
    }

    @Test
    void badInputGetsAClearErrorAndTheServiceGoesOn() throws Exception {
        DaemonProcess.Result r = daemon.cli("create", "shadow", "--for", "nope");
        assertEquals(1, r.exit());
        assertTrue(r.err().startsWith("shadowcopy: VSS_E_OBJECT_NOT_FOUND"), r.err());
        assertEquals(1, r.err().lines().count(), "one line: " + r.err());
        String sock = daemon.state.resolve("shadowcopy.sock").toString();
        String bad = sh("curl -sS --unix-socket " + sock + " -X POST -d '{not json' http://sc/v1/sets").ok().out();
        assertTrue(bad.contains("E_INVALIDARG"), bad);
        String xxe = sh("curl -sS --unix-socket " + sock + " -X POST -d @- http://sc/v1/writers <<'EOF'\n"
                + "{\"name\":\"x\",\"metadata\":\"<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
                + "<writer-metadata name='&e;'/>\"}\nEOF").ok().out();
        assertTrue(xxe.contains("VSS_E_INVALID_XML_DOCUMENT"), xxe);
        assertFalse(xxe.contains("root:"), xxe);
        String garbage = raw(daemon.state.resolve("shadowcopy.sock"), "GARBAGE\r\n\r\n");
        assertTrue(garbage.startsWith("HTTP/1.1 400") && garbage.contains("error"), garbage);
        String unknown = sh("curl -sS --unix-socket " + sock + " http://sc/v1/nothing").ok().out();
        assertTrue(unknown.contains("no API route"), unknown);
        daemon.cli("volume", "create", "v", "--size", "16M").ok();
        assertEquals(0, shadows().size());
        Path bad2 = write("bad.dsh", "set context volatile\nadd volume v\ncreat\n");
        DaemonProcess.Result s = daemon.cli("script", bad2.toString());
        assertEquals(1, s.exit());
        assertTrue(s.err().contains("bad.dsh:3: unknown command 'creat'"), s.err());
    }

    /** Sends bytes no HTTP client would send, and returns the whole answer (the server closes after a 4xx). */
    static String raw(Path socket, String request) throws Exception {
        try (var ch = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            ch.connect(java.net.UnixDomainSocketAddress.of(socket));
            ch.write(java.nio.ByteBuffer.wrap(request.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)));
            return new String(java.nio.channels.Channels.newInputStream(ch).readAllBytes(),
                    java.nio.charset.StandardCharsets.ISO_8859_1);
        }
    }

    Path write(String name, String content) throws Exception {
        return Files.writeString(tmp.resolve(name), content);
    }

    static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "";
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
