package dev.shadowcopy.cli;

import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeEvents;
import dev.shadowcopy.volume.VolumeManager;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** A first session, in-process on a default state directory: volume, write, shadow copy, overwrite, read back. */
@Command(name = "quickstart", mixinStandardHelpOptions = true,
        description = "Shows the engine at work on an embedded state directory (no daemon needed).")
final class QuickstartCommand implements Callable<Integer> {
    @Option(names = "--state", description = "State directory (default: ${DEFAULT-VALUE}).")
    Path state = defaultState();

    static Path defaultState() {
        return DaemonConfig.userDataDir().resolve("quickstart");
    }

    @Override
    public Integer call() throws Exception {
        System.out.println("State directory: " + state);
        try (VolumeManager volumes = VolumeManager.open(state.resolve("volumes"), VolumeEvents.NONE);
             Arena arena = Arena.ofConfined()) {
            if (volumes.find("quickstart").isPresent()) {
                volumes.delete("quickstart", true);
            }
            long size = 64L << 20;
            ManagedVolume v = volumes.create(VolumeConfig.sparse("quickstart", size));
            System.out.printf("1. Created volume %s: %d MiB, %d KiB chunks%n", v.name(), size >> 20,
                    v.preferredBlockSize() >> 10);

            MemorySegment before = text(arena, "written BEFORE the shadow copy", 4 << 20);
            v.write(0, before, true);
            System.out.println("2. Wrote 4 MiB: \"written BEFORE the shadow copy\" ...   sha256 " + sha(before));

            long t0 = System.nanoTime();
            ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
            System.out.printf("3. Shadow copy %s taken in %.2f ms (no data copied)%n", copy.id(),
                    (System.nanoTime() - t0) / 1e6);

            MemorySegment after = text(arena, "written AFTER the shadow copy", 4 << 20);
            v.write(0, after, true);
            System.out.printf("4. Overwrote the same 4 MiB; shadow storage now holds %d KiB of old data%n",
                    v.shadowStorage().used() >> 10);

            MemorySegment fromCopy = arena.allocate(4 << 20);
            v.shadowCopy(copy.id()).read(0, fromCopy);
            MemorySegment live = arena.allocate(4 << 20);
            v.read(0, live);
            System.out.println("5. Read back:");
            System.out.println("   live volume : \"" + prefix(live) + "\" ...   sha256 " + sha(live));
            System.out.println("   shadow copy : \"" + prefix(fromCopy) + "\" ...   sha256 " + sha(fromCopy));
            boolean ok = MemorySegment.mismatch(fromCopy, 0, fromCopy.byteSize(), before, 0, before.byteSize()) == -1
                    && MemorySegment.mismatch(live, 0, live.byteSize(), after, 0, after.byteSize()) == -1;
            System.out.println(ok ? "OK: the shadow copy still holds the old content; the volume has the new one."
                    : "MISMATCH: the shadow copy does not hold the old content!");
            return ok ? 0 : 1;
        }
    }

    private static MemorySegment text(Arena arena, String line, int size) {
        byte[] l = (line + "\n").getBytes(StandardCharsets.US_ASCII);
        MemorySegment s = arena.allocate(size);
        for (int off = 0; off < size; off += l.length) {
            MemorySegment.copy(l, 0, s, ValueLayout.JAVA_BYTE, off, Math.min(l.length, size - off));
        }
        return s;
    }

    private static String prefix(MemorySegment s) {
        byte[] b = s.asSlice(0, 64).toArray(ValueLayout.JAVA_BYTE);
        String t = new String(b, StandardCharsets.US_ASCII);
        return t.substring(0, t.indexOf('\n'));
    }

    private static String sha(MemorySegment s) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        d.update(s.asByteBuffer());
        return HexFormat.of().formatHex(d.digest()).substring(0, 16);
    }
}
