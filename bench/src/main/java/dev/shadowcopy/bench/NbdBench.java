package dev.shadowcopy.bench;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.volume.Sizes;
import dev.shadowcopy.volume.VolumeConfig;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The NBD benchmark of issue 4: the same file served, one server at a time, by our server, by {@code qemu-nbd}
 * and by {@code nbdkit file}, and driven by the same clients in the same run: {@code nbdcopy} (whole-disk
 * sequential read and write), {@code fio --ioengine=nbd} (1 MiB sequential and 4 KiB random, read and write, at
 * queue depth 1 and 32) and fio on the {@code nbdfuse} file (libaio, O_DIRECT: the path a local block device
 * takes). Every figure is printed with the ratios ours/qemu-nbd and ours/nbdkit.
 *
 * <p>Our server exports the file as a managed volume over the existing file (no shadow copy, so writes go
 * straight through, as with the other two); qemu-nbd runs with {@code --cache=writeback --aio=threads
 * --shared=8}, nbdkit with its defaults. Each server gets the same short warm-up before its figures are taken
 * (our JIT, their page cache).
 */
public final class NbdBench {
    private final Path dir;
    private final long size;
    private final int seconds;
    private final List<String> only;
    /** workload → server → MB/s or IOPS. */
    /** Every measurement of a workload by server, over the rounds; the table shows the median. */
    private final Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
    private final Map<String, String> units = new LinkedHashMap<>();

    private int rounds = 1;

    private NbdBench(Path dir, long size, int seconds, List<String> only) {
        this.dir = dir;
        this.size = size;
        this.seconds = seconds;
        this.only = only;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of("/var/tmp");
        long size = 1L << 30;
        int seconds = 5;
        List<String> only = List.of("ours", "qemu-nbd", "nbdkit");
        int rounds = 1;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir" -> dir = Path.of(args[++i]);
                case "--size" -> size = Sizes.parse(args[++i]);
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--servers" -> only = List.of(args[++i].split(","));
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                // before any engine class is loaded: how often our volume starts write-back (0: the kernel decides)
                case "--writeback-dirty-mb" -> System.setProperty("shadowcopy.writeback-dirty-mb", args[++i]);
                default -> {
                    System.err.println("usage: bench-nbd [--dir DIR] [--size 1G] [--seconds 5] "
                            + "[--servers ours,qemu-nbd,nbdkit] [--rounds 1] [--writeback-dirty-mb 256]");
                    System.exit(2);
                }
            }
        }
        Path work = Files.createTempDirectory(dir, "shadowcopy-nbd-bench");
        try {
            NbdBench bench = new NbdBench(work, size, seconds, only);
            bench.rounds = Math.max(1, rounds);
            bench.run();
        } finally {
            run(List.of("rm", "-rf", work.toString()), true);
        }
    }

    private interface Server extends AutoCloseable {
        String uri();

        @Override
        void close() throws Exception;
    }

    private void run() throws Exception {
        Path file = dir.resolve("disk.img");
        Path source = dir.resolve("source.img");
        fillRandom(file);
        fillRandom(source);
        System.out.printf(Locale.ROOT, "NBD benchmark: %s file on %s, %d s per fio job, %d round(s), our volume starts "
                        + "write-back every %s MiB (0: the kernel decides), %d cores%n%n", Sizes.format(size), dir, seconds,
                rounds, System.getProperty("shadowcopy.writeback-dirty-mb", "256"),
                Runtime.getRuntime().availableProcessors());
        // Rounds rotate the order of the servers, so that none always runs first (cold) or last (after the others'
        // write-back); the table shows each row's median over the rounds.
        for (int round = 0; round < rounds; round++) {
            List<String> order = new java.util.ArrayList<>(only);
            java.util.Collections.rotate(order, -round);
            for (String name : order) {
                runServer(name, file, source, round);
            }
        }
        printTable();
    }

    private void runServer(String name, Path file, Path source, int round) throws Exception {
        {
            try (Server server = start(name, file)) {
                System.out.printf("== %s (round %d of %d)%n", name, round + 1, rounds);
                fio(server, "warm-up", "randread", "4k", 32, false, name, true);
                nbdcopy(server, name, source);
                for (String rw : List.of("read", "write")) {
                    for (int depth : new int[] {1, 32}) {
                        fio(server, "fio nbd seq " + rw + " 1M qd" + depth, rw, "1M", depth, false, name, false);
                    }
                }
                for (String rw : List.of("randread", "randwrite")) {
                    for (int depth : new int[] {1, 32}) {
                        fio(server, "fio nbd " + rw + " 4k qd" + depth, rw, "4k", depth, false, name, false);
                    }
                }
                try (Fuse fuse = new Fuse(dir.resolve("fuse"), server.uri())) {
                    for (String rw : List.of("read", "write")) {
                        fio(server, "fio nbdfuse seq " + rw + " 1M qd32", rw, "1M", 32, true, name, false, fuse.file());
                    }
                    for (String rw : List.of("randread", "randwrite")) {
                        for (int depth : new int[] {1, 32}) {
                            fio(server, "fio nbdfuse " + rw + " 4k qd" + depth, rw, "4k", depth, true, name, false, fuse.file());
                        }
                    }
                }
            }
        }
    }

    private Server start(String name, Path file) throws Exception {
        Path socket = dir.resolve(name + ".sock");
        Files.deleteIfExists(socket);
        return switch (name) {
            case "ours" -> ours(file, socket);
            case "qemu-nbd" -> external(socket, "vol", List.of("qemu-nbd", "-t", "-f", "raw", "--cache=writeback",
                    "--aio=threads", "--shared=8", "-x", "vol", "-k", socket.toString(), file.toString()));
            case "nbdkit" -> external(socket, "vol", List.of("nbdkit", "-f", "-U", socket.toString(), "file",
                    "file=" + file));
            default -> throw new IllegalArgumentException("unknown server " + name);
        };
    }

    private Server ours(Path file, Path socket) throws IOException {
        VolumeManager volumes = VolumeManager.open(dir.resolve("state"), VolumeEvents.NONE);
        if (volumes.find("vol").isEmpty()) {
            volumes.create(VolumeConfig.existing("vol", file));
        }
        NbdServer server = NbdServer.start(new VolumeExports(volumes), NbdServer.Config.unix(socket));
        return new Server() {
            public String uri() {
                return "nbd+unix:///vol?socket=" + socket;
            }

            public void close() throws Exception {
                try {
                    server.close();
                } finally {
                    volumes.close();
                }
            }
        };
    }

    private static Server external(Path socket, String export, List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(socket)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IOException(command.getFirst() + " did not create " + socket);
            }
            Thread.onSpinWait();
            Thread.sleep(10);
        }
        return new Server() {
            public String uri() {
                return "nbd+unix:///" + export + "?socket=" + socket;
            }

            public void close() throws Exception {
                p.destroy();
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor();
                }
            }
        };
    }

    /** nbdfuse exposes the export as a file in a FUSE mount, the way attach does before losetup. */
    private static final class Fuse implements AutoCloseable {
        private final Path mount;
        private final Process process;

        Fuse(Path mount, String uri) throws Exception {
            this.mount = mount;
            Files.createDirectories(mount);
            Path pid = mount.resolveSibling("nbdfuse.pid");
            Files.deleteIfExists(pid);
            process = new ProcessBuilder("nbdfuse", "-P", pid.toString(), file().toString(), uri)
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(pid)) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    process.destroyForcibly();
                    throw new IOException("nbdfuse did not come up on " + mount);
                }
                Thread.sleep(10);
            }
        }

        Path file() {
            return mount.resolve("disk");
        }

        @Override
        public void close() throws Exception {
            NbdBench.run(List.of("fusermount3", "-u", mount.toString()), true);
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
    }

    private void nbdcopy(Server server, String name, Path source) throws IOException {
        long t0 = System.nanoTime();
        run(List.of("nbdcopy", server.uri(), "null:"), false);
        record("nbdcopy read whole disk", name, size / 1e6 / ((System.nanoTime() - t0) / 1e9), "MB/s");
        t0 = System.nanoTime();
        run(List.of("nbdcopy", "--flush", source.toString(), server.uri()), false);
        record("nbdcopy write whole disk + flush", name, size / 1e6 / ((System.nanoTime() - t0) / 1e9), "MB/s");
    }

    private void fio(Server server, String label, String rw, String bs, int depth, boolean fuse, String name,
            boolean warmUp, Path... fuseFile) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("fio", "--name=bench", "--rw=" + rw, "--bs=" + bs,
                "--iodepth=" + depth, "--time_based", "--runtime=" + (warmUp ? 2 : seconds), "--size=" + size,
                "--output-format=terse", "--terse-version=3", "--randrepeat=0", "--norandommap"));
        if (fuse) {
            cmd.addAll(List.of("--ioengine=libaio", "--direct=1", "--filename=" + fuseFile[0]));
        } else {
            cmd.addAll(List.of("--ioengine=nbd", "--uri=" + server.uri()));
        }
        if (rw.contains("write")) {
            cmd.add("--end_fsync=1");
        }
        String[] f = run(cmd, false).lines().filter(l -> l.startsWith("3;")).findFirst()
                .orElseThrow(() -> new IOException("no terse output from fio")).split(";");
        boolean write = rw.contains("write");
        // terse v3: field 7/8 read KiB/s and IOPS, 48/49 write KiB/s and IOPS (1-based)
        double kib = Double.parseDouble(f[write ? 47 : 6]);
        double iops = Double.parseDouble(f[write ? 48 : 7]);
        if (warmUp) {
            return;
        }
        if (bs.equals("4k")) {
            record(label, name, iops, "IOPS");
        } else {
            record(label, name, kib * 1024 / 1e6, "MB/s");
        }
    }

    private void record(String workload, String server, double value, String unit) {
        results.computeIfAbsent(workload, k -> new LinkedHashMap<>()).computeIfAbsent(server, k -> new ArrayList<>())
                .add(value);
        units.put(workload, unit);
        System.out.printf(Locale.ROOT, "  %-36s %10.0f %s%n", workload, value, unit);
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private void printTable() {
        System.out.println();
        System.out.println("| workload | unit | ours | qemu-nbd | nbdkit | ours/qemu-nbd | ours/nbdkit |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|");
        for (var e : results.entrySet()) {
            Map<String, Double> r = new LinkedHashMap<>();
            e.getValue().forEach((server, values) -> r.put(server, median(values)));
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s |%n", e.getKey(), units.get(e.getKey()),
                    num(r.get("ours")), num(r.get("qemu-nbd")), num(r.get("nbdkit")),
                    ratio(r.get("ours"), r.get("qemu-nbd")), ratio(r.get("ours"), r.get("nbdkit")));
        }
    }

    private static String num(Double v) {
        return v == null ? "-" : String.format(Locale.ROOT, "%.0f", v);
    }

    private static String ratio(Double a, Double b) {
        return a == null || b == null ? "-" : String.format(Locale.ROOT, "%.2fx", a / b);
    }

    private void fillRandom(Path file) throws IOException {
        Random random = new Random(file.hashCode());
        byte[] block = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long done = 0; done < size; done += block.length) {
                random.nextBytes(block);
                out.write(block, 0, (int) Math.min(block.length, size - done));
            }
        }
    }

    static String run(List<String> command, boolean ignoreFailure) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        try {
            int rc = p.waitFor();
            if (rc != 0 && !ignoreFailure) {
                throw new IOException(String.join(" ", command) + " failed (" + rc + "): " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return out;
    }
}
