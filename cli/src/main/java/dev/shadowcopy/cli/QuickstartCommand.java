package dev.shadowcopy.cli;

import dev.shadowcopy.image.backup.BackupWriter;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.backup.VolumeSource;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.Restorer;
import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.shadow.ShadowCopyId;
import dev.shadowcopy.shadow.ShadowCopyInfo;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.volume.FileDevice;
import dev.shadowcopy.volume.ManagedVolume;
import dev.shadowcopy.volume.ShadowCopyDevice;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A first session, in-process on a default state directory (no daemon, no root): a volume holding an ext4 file
 * system, an application writing to a file on it, a shadow copy taken while it writes, a full and an incremental
 * backup, a restore, and the proof that the restore matches (bytes, fsck, file contents).
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true,
        description = "Shows the whole flow on an embedded state directory (no daemon, no root): a volume with an "
                + "ext4 file system written while a shadow copy is taken, a backup, a restore, and the proof.")
final class QuickstartCommand implements Callable<Integer> {
    private static final long SIZE = 64L << 20;
    private static final int LINE = 64;

    @Option(names = "--state", description = "State directory (default: ${DEFAULT-VALUE}).")
    Path state = defaultState();

    static Path defaultState() {
        return DaemonConfig.userDataDir().resolve("quickstart");
    }

    @Override
    public Integer call() throws Exception {
        for (String tool : List.of("mkfs.ext4", "debugfs", "e2fsck")) {
            if (run(List.of("sh", "-c", "command -v " + tool + " || test -x /sbin/" + tool)).exit != 0) {
                throw new IllegalStateException(tool + " is missing: install e2fsprogs (apt-get install e2fsprogs)");
            }
        }
        System.out.println("State directory: " + state);
        Files.createDirectories(state);
        VolumeManager opened;
        try {
            opened = VolumeManager.open(state.resolve("volumes"), VolumeEvents.NONE);
        } catch (IOException e) {
            // The quick start's state is disposable: one left by another version is started afresh.
            System.out.println("(starting afresh: the previous quick start's state cannot be opened: " + e.getMessage()
                    + ")");
            deleteTree(state.resolve("volumes"));
            opened = VolumeManager.open(state.resolve("volumes"), VolumeEvents.NONE);
        }
        try (VolumeManager volumes = opened) {
            if (volumes.find("quickstart").isPresent()) {
                volumes.delete("quickstart", true); // a previous run's volume
            }
            for (String old : List.of("volume.img", "restored.img", "tree", "repo")) {
                deleteTree(state.resolve(old));
            }
            Path image = state.resolve("volume.img");
            Path tree = state.resolve("tree");
            Files.createDirectories(tree.resolve("data"));
            Files.createDirectories(tree.resolve("log"));
            Files.writeString(tree.resolve("readme.txt"), "Written before any shadow copy.\n");
            byte[] random = new byte[4 << 20];
            new Random(42).nextBytes(random);
            Files.write(tree.resolve("data/random.bin"), random);
            Files.write(tree.resolve("log/app.log"), ".".repeat(8 << 20).getBytes(StandardCharsets.US_ASCII));
            check(run(List.of(tool("mkfs.ext4"), "-q", "-F", "-b", "4096", "-d", tree.toString(), image.toString(),
                    (SIZE >> 20) + "M")), "mkfs.ext4");
            long[] logBlocks = fileBlocks(image, "/log/app.log");
            ManagedVolume v = volumes.create(VolumeConfig.existing("quickstart", image));
            System.out.printf("1. Volume quickstart: %s with an ext4 file system (readme.txt, data/random.bin, "
                    + "log/app.log)%n", Sizes.format(v.size()));

            // The application: appends numbered lines to log/app.log, straight into the file's blocks.
            AtomicInteger lines = new AtomicInteger();
            AtomicBoolean stop = new AtomicBoolean();
            Thread app = Thread.ofPlatform().name("app").start(() -> appendLines(v, logBlocks, lines, stop));
            waitFor(() -> lines.get() >= 2000);
            int before = lines.get();
            long t0 = System.nanoTime();
            ShadowCopyInfo copy = v.createShadowCopy(ShadowCopyId.random(), true);
            double ms = (System.nanoTime() - t0) / 1e6;
            int atCopy = lines.get();
            waitFor(() -> lines.get() >= atCopy + 2000);
            System.out.printf("2. Shadow copy %s taken in %.2f ms while the application kept writing "
                    + "(%d lines before, %d after)%n", copy.id(), ms, before, lines.get() - atCopy);

            Repository repo = Repository.init(state.resolve("repo"), Repository.InitOptions.defaults(null));
            ShadowCopyDevice dev = v.shadowCopy(copy.id());
            BackupWriter.Result full = backup(repo, v, dev, copy);
            Manifest.VolumeEntry fe = full.manifest().volumes().getFirst();
            System.out.printf("3. Full backup %s from the shadow copy: %s of data read, %s stored (zstd), %d ms%n",
                    full.manifest().id(), Sizes.format(fe.bytesRead()), Sizes.format(fe.storedBytes()),
                    full.elapsed().toMillis());

            ShadowCopyInfo copy2 = v.createShadowCopy(ShadowCopyId.random(), true);
            stop.set(true);
            app.join();
            BackupWriter.Result inc = backup(repo, v, v.shadowCopy(copy2.id()), copy2);
            Manifest.VolumeEntry ie = inc.manifest().volumes().getFirst();
            System.out.printf("4. Incremental backup %s: %s (read %s: only what changed since the first)%n",
                    inc.manifest().id(), ie.mode(), Sizes.format(ie.bytesRead()));

            Path restored = state.resolve("restored.img");
            try (FileDevice target = FileDevice.create(restored, fe.size())) {
                Restorer.restore(repo, full.manifest().id(), "quickstart", target, new Restorer.Options(true, true,
                        2, Duration.ofSeconds(30)), Progress.NONE);
            }
            System.out.println("5. Restored the full backup to " + restored);

            String copySha = sha(dev);
            String restoredSha;
            try (FileDevice r = FileDevice.open(restored, true)) {
                restoredSha = sha(r);
            }
            String liveSha = sha(v);
            boolean bytes = copySha.equals(restoredSha) && !copySha.equals(liveSha);
            System.out.printf("6. Proof:%n   shadow copy  sha256 %s%n   restored     sha256 %s%n   live volume  "
                    + "sha256 %s (moved on)%n", copySha, restoredSha, liveSha);
            ProcessResult fsck = run(List.of(tool("e2fsck"), "-fn", restored.toString()));
            System.out.println("   e2fsck -fn restored.img: " + (fsck.exit == 0 ? "clean" : "ERRORS\n" + fsck.out));
            String randomBack = sha(dump(restored, "/data/random.bin"));
            boolean same = randomBack.equals(sha(random));
            System.out.println("   data/random.bin in the restore: " + (same ? "identical to the original"
                    : "DIFFERENT"));
            String log = new String(dump(restored, "/log/app.log"), StandardCharsets.US_ASCII);
            int restoredLines = (int) log.lines().filter(l -> l.startsWith("line ")).count();
            boolean appOk = restoredLines >= before && restoredLines <= atCopy + 1; // +1: a write counted just after
            System.out.printf("   log/app.log in the restore: %d lines (the copy's instant fell between line %d and "
                    + "line %d)%n", restoredLines, before, atCopy);
            v.deleteShadowCopy(copy.id());
            v.deleteShadowCopy(copy2.id());
            boolean ok = bytes && fsck.exit == 0 && same && appOk;
            System.out.println(ok ? "OK: the backup restored exactly the volume as it was at the shadow copy."
                    : "MISMATCH: see above.");
            System.out.println("Next: the daemon, attach/expose and `shadowcopy backup --for VOL --repo DIR` "
                    + "(README.md).");
            return ok ? 0 : 1;
        }
    }

    private static BackupWriter.Result backup(Repository repo, ManagedVolume v, ShadowCopyDevice dev,
                                              ShadowCopyInfo copy) throws IOException {
        return BackupWriter.write(repo, new BackupWriter.Request(List.of(new VolumeSource(v.name(), v.id().toString(),
                copy.id().toString(), copy.sequence(), dev, dev::mapChangesSince)), copy.created(), "quickstart",
                "backup", "crash-consistent", List.of(), Map.of(), "quickstart", "quickstart", false, 2,
                Duration.ofSeconds(30)), Progress.NONE);
    }

    /** Writes "line N" records of {@link #LINE} bytes into the file's blocks, in order, until stopped or full. */
    private static void appendLines(ManagedVolume v, long[] blocks, AtomicInteger lines, AtomicBoolean stop) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment rec = a.allocate(LINE);
            int perBlock = 4096 / LINE;
            int max = blocks.length * perBlock;
            while (!stop.get() && lines.get() < max) {
                int n = lines.get() + 1;
                String s = String.format("line %08d written by the application", n);
                byte[] b = (s + " ".repeat(LINE - 1 - s.length()) + "\n").getBytes(StandardCharsets.US_ASCII);
                MemorySegment.copy(b, 0, rec, ValueLayout.JAVA_BYTE, 0, LINE);
                int i = n - 1;
                v.write(blocks[i / perBlock] * 4096 + (long) (i % perBlock) * LINE, rec, false);
                lines.set(n); // counted once the write returned
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Physical 4 KiB blocks of a file in an ext4 image, in file order (from debugfs's extent list). */
    private static long[] fileBlocks(Path image, String file) throws IOException, InterruptedException {
        ProcessResult r = run(List.of(tool("debugfs"), "-R", "stat " + file, image.toString()));
        check(r, "debugfs stat");
        List<Long> out = new ArrayList<>();
        Matcher m = Pattern.compile("\\((\\d+)(?:-(\\d+))?\\):(\\d+)(?:-(\\d+))?").matcher(r.out);
        while (m.find()) {
            long p0 = Long.parseLong(m.group(3));
            long p1 = m.group(4) == null ? p0 : Long.parseLong(m.group(4));
            for (long p = p0; p <= p1; p++) {
                out.add(p);
            }
        }
        if (out.isEmpty()) {
            throw new IOException("cannot find the blocks of " + file + ": " + r.out);
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    private static byte[] dump(Path image, String file) throws IOException, InterruptedException {
        Path out = Files.createTempFile("quickstart", ".out");
        try {
            check(run(List.of(tool("debugfs"), "-R", "dump " + file + " " + out, image.toString())), "debugfs dump");
            return Files.readAllBytes(out);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    private static String sha(BlockDevice d) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(1 << 20);
            for (long off = 0; off < d.size(); off += buf.byteSize()) {
                MemorySegment s = buf.asSlice(0, Math.min(buf.byteSize(), d.size() - off));
                d.read(off, s);
                md.update(s.asByteBuffer());
            }
        }
        return HexFormat.of().formatHex(md.digest()).substring(0, 16);
    }

    private static String sha(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b)).substring(0, 16);
    }

    private static void waitFor(java.util.function.BooleanSupplier c) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException("the application stopped writing");
            }
            Thread.sleep(1);
        }
    }

    private record ProcessResult(int exit, String out) {}

    private static String tool(String name) {
        return Files.isExecutable(Path.of("/sbin", name)) ? "/sbin/" + name : name;
    }

    private static ProcessResult run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new ProcessResult(p.waitFor(), out);
    }

    private static void check(ProcessResult r, String what) throws IOException {
        if (r.exit != 0) {
            throw new IOException(what + " failed (exit " + r.exit + "): " + r.out.strip());
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted((a, b) -> b.compareTo(a)).toList()) {
                Files.delete(q);
            }
        }
    }
}
