package dev.shadowcopy.provider.cow;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.testing.Segments;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowStorageLimit;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * The process {@link KillNineCrashTest} kills: opens the state directory with the real engine and runs random
 * operations forever, printing {@code B <op>} before and {@code OK} after each one, and {@code REL <id>} when
 * the engine releases a copy on its own. Every line is flushed before the next step, so the parent knows
 * exactly which operations were acknowledged when the kill landed.
 *
 * <p>Arguments: state directory, seed, checkpoint threshold in bytes, operation log file, volume layout.
 */
public final class CrashChild {
    static final String VOLUME = "crash";
    static final int SIZE = 8 << 20;
    static final int CHUNK = 64 << 10;

    /** An append-only line log: each line is one write(2). */
    static final class Log {
        private final java.io.FileOutputStream file;

        Log(Path path) throws java.io.IOException {
            file = new java.io.FileOutputStream(path.toFile(), true);
        }

        void println(String line) {
            try {
                file.write((line + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            System.out.println(line); // progress for the parent
        }
    }

    public static void main(String[] args) throws Exception {
        // The parent never writes to our stdin; its end closes when the parent dies. A killed test run must not
        // leave this child writing for hours (one did, at a fifth of a core, under every later run).
        Thread.ofPlatform().daemon().name("parent-watch").start(() -> {
            try {
                while (System.in.read() >= 0) {
                    // nothing is sent
                }
            } catch (java.io.IOException e) {
                // the same as end of stream
            }
            Runtime.getRuntime().halt(3);
        });
        Path state = Path.of(args[0]);
        Random r = new Random(Long.parseLong(args[1]));
        long checkpointBytes = Long.parseLong(args[2]);
        // One write(2) per line, so that a line is in the file (page cache) before the step it announces runs;
        // the parent reads this file after the kill. (stdout through a PrintStream may split a line.)
        Log out = new Log(Path.of(args[3]));
        VolumeEvents events = new VolumeEvents() {
            @Override
            public void shadowCopyReleased(String volume, ShadowCopyInfo copy, String reason) {
                if (!reason.startsWith("non-persistent")) {
                    out.println("REL " + copy.id());
                }
            }
        };
        VolumeManager manager = VolumeManager.open(dev.shadowcopy.platform.LocalStorage.INSTANCE, state, events,
                new VolumeManager.Tuning(checkpointBytes, false, 4L << 20));
        ManagedVolume v = manager.find(VOLUME).orElse(null);
        if (v == null) {
            v = manager.create(VolumeConfig.sparse(VOLUME, SIZE).withChunkSize(CHUNK)
                    .withShadowStorage(ShadowStorageLimit.ofBytes(3 << 20))
                    .withLayout(dev.shadowcopy.volume.VolumeLayout.parse(args[4])));
        }
        out.println("READY");
        while (true) {
            int dice = r.nextInt(100);
            List<ShadowCopyInfo> copies = v.shadowCopies();
            if (dice < 60) {
                long off = r.nextInt(SIZE - 1);
                int len = 1 + r.nextInt((int) Math.min(256 << 10, SIZE - off));
                int seed = r.nextInt();
                boolean fua = r.nextInt(8) == 0;
                out.println("B W " + off + " " + len + " " + seed + " " + (fua ? 1 : 0));
                v.write(off, Segments.of(Segments.random(len, seed)), fua);
            } else if (dice < 65) {
                long off = r.nextInt(SIZE - 1);
                int len = 1 + r.nextInt((int) Math.min(512 << 10, SIZE - off));
                out.println("B T " + off + " " + len);
                v.trim(off, len, false);
            } else if (dice < 72) {
                out.println("B F");
                v.flush();
            } else if (dice < 85) {
                if (copies.size() >= 24) {
                    continue;
                }
                ShadowCopyId id = ShadowCopyId.random();
                boolean persistent = r.nextInt(6) != 0;
                out.println("B C " + id + " " + (persistent ? 1 : 0));
                v.createShadowCopy(id, persistent);
            } else if (dice < 97) {
                if (copies.isEmpty()) {
                    continue;
                }
                ShadowCopyId id = copies.get(r.nextInt(copies.size())).id();
                out.println("B D " + id);
                v.deleteShadowCopy(id);
            } else {
                if (copies.isEmpty()) {
                    continue;
                }
                ShadowCopyId id = copies.get(r.nextInt(copies.size())).id();
                out.println("B R " + id);
                v.revert(id);
            }
            out.println("OK");
        }
    }
}
