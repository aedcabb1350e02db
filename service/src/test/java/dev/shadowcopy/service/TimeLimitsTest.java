package dev.shadowcopy.service;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.Timeouts;
import dev.shadowcopy.testing.Host;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.WriteHold;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;

/**
 * The sequence's limits are enforced while writes are held, with real components made to hang: FIFREEZE of an ext4
 * whose device takes no writes (its managed volume's I/O is held), and a btrfs snapshot on a frozen btrfs. At the
 * deadline the set aborts with VSS's error, everything is released at once, and what the hung step does when it
 * finally returns is undone.
 */
@Tag("host")
class TimeLimitsTest {
    static final Duration LIMIT = Duration.ofSeconds(2);

    @TempDir
    Path tmp;
    Service service;

    @BeforeEach
    void start() throws Exception {
        Host.requireRoot();
        Timeouts t = new Timeouts(Duration.ofSeconds(30), LIMIT, Duration.ofSeconds(10), Duration.ofSeconds(5), LIMIT);
        service = Service.start(new DaemonConfig(tmp.resolve("state"), null, null, t, null));
    }

    @AfterEach
    void stop() throws Exception {
        service.close();
    }

    Session session() throws ServiceException {
        return service.sessions().open(Context.NAS_ROLLBACK, "full", Set.of(), Set.of(), "test", null);
    }

    static void await(Duration limit, BooleanSupplier condition, String what) throws InterruptedException {
        Instant end = Instant.now().plus(limit);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(end)) {
                throw new AssertionError("timed out after " + limit + " waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    boolean event(String type) {
        return service.events().since(0, 5000).stream().anyMatch(e -> e.path("type").asText().equals(type));
    }

    @Test
    void aFileSystemFreezeThatCannotFlushIsAbandonedAtItsDeadline() throws Exception {
        Host.requireProgram("nbdfuse");
        Host.requireProgram("mkfs.ext4");
        service.volumes().create(VolumeConfig.sparse("fs", 64L << 20));
        Attachment a = service.volumes().attach("fs", false);
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        Host.run("mkfs.ext4", "-q", "-F", a.loopDevice());
        Host.run("mount", a.loopDevice(), mnt.toString());
        Path frozenRecord = tmp.resolve("state").resolve("frozen.json");
        try {
            Files.write(mnt.resolve("dirty"), new byte[8 << 20]); // in the page cache: FIFREEZE must write it back
            ManagedVolume v = service.volumes().get("fs");
            Instant t0;
            try (WriteHold hold = v.holdWrites(Duration.ofSeconds(30))) { // the device takes no writes now
                t0 = Instant.now();
                ServiceException e = assertThrows(ServiceException.class,
                        () -> service.sessions().createSet(session(), List.of("fs"), null));
                assertEquals(VssError.FLUSH_WRITES_TIMEOUT, e.error(), e.getMessage());
                assertTrue(e.retryable());
                assertTrue(Duration.between(t0, Instant.now()).compareTo(LIMIT.plusSeconds(4)) < 0,
                        "abandoned at its deadline, not when the flush ended");
                // the freeze is still inside the kernel: no second set may start on that file system meanwhile
                ServiceException again = assertThrows(ServiceException.class,
                        () -> service.sessions().createSet(session(), List.of("fs"), null));
                assertEquals(VssError.FLUSH_WRITES_TIMEOUT, again.error());
                assertTrue(again.getMessage().contains("still waiting"), again.getMessage());
                assertTrue(Files.exists(frozenRecord), "the record stays while the freeze may still happen");
            }
            // the device takes writes again: the abandoned FIFREEZE returns and is undone at once
            await(Duration.ofSeconds(60), () -> !Files.exists(frozenRecord), "the late freeze to be thawed");
            assertTrue(event("late-freeze-thawed"));
            CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
                try {
                    Files.writeString(mnt.resolve("after"), "thawed");
                    Host.run("sync", "-f", mnt.resolve("after").toString());
                } catch (Exception ex) {
                    throw new RuntimeException(ex);
                }
            });
            write.get(30, TimeUnit.SECONDS); // a frozen file system would block this
            assertEquals(1, service.sessions().createSet(session(), List.of("fs"), null).copies().size());
            assertEquals(0, service.catalog().sets().stream().filter(s -> s.state().equals("creating")).count());
        } finally {
            Host.run("umount", mnt.toString());
            service.volumes().detach("fs", false);
        }
    }

    @Test
    void aProviderCommitThatHangsIsAbandonedAtTheCommitDeadlineWithWritesReleased() throws Exception {
        Host.requireProgram("mkfs.btrfs");
        Host.requireProgram("fsfreeze");
        Path img = tmp.resolve("btrfs.img");
        Path mnt = Files.createDirectories(tmp.resolve("btrfs"));
        Host.run("truncate", "-s", "300M", img.toString());
        Host.mkfsBtrfs("-q", img.toString());
        Host.run("mount", "-o", "loop", img.toString(), mnt.toString());
        try {
            Host.run("btrfs", "subvolume", "create", mnt.resolve("data").toString());
            service.volumes().registerBtrfs("bt", mnt.resolve("data"));
            service.volumes().create(VolumeConfig.sparse("a", 8L << 20));
            ManagedVolume a = service.volumes().get("a");
            Host.run("fsfreeze", "-f", mnt.toString()); // a snapshot of a frozen btrfs waits in the kernel
            boolean frozen = true;
            try {
                Instant t0 = Instant.now();
                ServiceException e = assertThrows(ServiceException.class,
                        () -> service.sessions().createSet(session(), List.of("a", "bt"), null));
                assertEquals(VssError.HOLD_WRITES_TIMEOUT, e.error(), e.getMessage());
                assertTrue(e.getMessage().contains("bt"), e.getMessage());
                assertTrue(Duration.between(t0, Instant.now()).compareTo(LIMIT.plusSeconds(4)) < 0,
                        "abandoned at the commit deadline");
                // the managed volume's writes were released at the deadline, while the btrfs is still frozen
                CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
                    try (Arena ar = Arena.ofConfined()) {
                        MemorySegment s = ar.allocate(4096);
                        s.fill((byte) 9);
                        a.write(0, s, true);
                    } catch (Exception ex) {
                        throw new RuntimeException(ex);
                    }
                });
                write.get(10, TimeUnit.SECONDS);
                assertEquals(0, a.shadowCopies().size(), "nothing half-made");
                Host.run("fsfreeze", "-u", mnt.toString());
                frozen = false;
            } finally {
                if (frozen) {
                    Host.run("fsfreeze", "-u", mnt.toString());
                }
            }
            // the snapshot btrfs made once thawed belongs to no set: it is deleted
            Path snapshots = mnt.resolve(".shadowcopy-bt");
            await(Duration.ofSeconds(60), () -> event("late-snapshot-deleted"), "the late snapshot to be deleted");
            try (var list = Files.list(snapshots)) {
                assertFalse(list.findAny().isPresent(), "no snapshot left behind");
            }
            assertTrue(service.shadows().list().isEmpty());
            assertEquals(2, service.sessions().createSet(session(), List.of("a", "bt"), null).copies().size(),
                    "the next set works");
        } finally {
            for (var c : service.shadows().list()) {
                service.shadows().delete(dev.shadowcopy.service.ops.ShadowCopies.Selector.shadow(c.id().toString()));
            }
            Host.run("umount", mnt.toString());
        }
    }
}
