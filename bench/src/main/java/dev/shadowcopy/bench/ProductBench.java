package dev.shadowcopy.bench;

import dev.shadowcopy.volume.Sizes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The image backup benchmark on the product path: what a user runs, timed from outside. A real daemon
 * ({@code shadowcopy daemon}) holds a managed volume, attached as a loop device; every step is a CLI process —
 * {@code backup --for vol} (daemon: writers, shadow copy set, read of the copy, repository), {@code restore … --to
 * FILE} — with the page cache dropped before it. In the same run, on the same bytes (a plain image file holding what
 * the volume holds, changed in the same places), the references: {@code qemu-img convert -O qcow2 -c -o
 * compression_type=zstd}, restic and borg (encrypted, zstd), and a plain sequential write of the same bytes.
 * Every tool's step ends with {@code sync -f} of its output's file system, so that all are timed to durability.
 * Several rounds; the table shows medians and the ratios the targets are stated in (docs/benchmarks.md).
 */
public final class ProductBench {
    private Path dir = Path.of("/var/tmp");
    private long size = 2L << 30;
    private int rounds = 3;
    private boolean encrypted = true;
    private List<String> tools = List.of("qemu-img", "restic", "borg");
    private Path jfr;
    private final String cliClasspath = System.getProperty("bench.cli.cp");
    /** The launcher's AOT cache ({@code bin/shadowcopy}): the CLI and the daemon start as a user's do. */
    private final String cliAot = System.getProperty("bench.cli.aot");
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
            new com.fasterxml.jackson.databind.ObjectMapper();
    private final String javaCommand = ProcessHandle.current().info().command().orElse("java");

    private Path work;
    private Path state;
    private Process daemon;
    private final Map<String, List<Double>> figures = new TreeMap<>();
    private final Map<String, List<Double>> cpu = new TreeMap<>();
    /** CPU seconds (user + system) of the processes the current step ran. */
    private double stepCpu;
    private final Map<String, Long> sizes = new LinkedHashMap<>();

    public static void main(String[] args) throws Exception {
        ProductBench b = new ProductBench();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir" -> b.dir = Path.of(args[++i]);
                case "--size" -> b.size = Sizes.parse(args[++i]);
                case "--rounds" -> b.rounds = Integer.parseInt(args[++i]);
                case "--unencrypted" -> b.encrypted = false;
                case "--tools" -> {
                    String t = args[++i];
                    b.tools = t.isEmpty() ? List.of() : List.of(t.split(","));
                }
                case "--jfr" -> b.jfr = Path.of(args[++i]).toAbsolutePath();
                default -> {
                    System.err.println("usage: bench-backup [--dir DIR] [--size 2G] [--rounds 3] [--unencrypted] "
                            + "[--tools qemu-img,restic,borg] [--jfr DIR]");
                    System.exit(2);
                }
            }
        }
        if (b.cliClasspath == null) {
            throw new IllegalStateException("run through bin/bench-backup (it sets -Dbench.cli.cp)");
        }
        b.run();
    }

    private void run() throws Exception {
        work = Files.createTempDirectory(dir, "bench-product-");
        state = work.resolve("state");
        Path source = work.resolve("source.img");
        Thread cleanup = new Thread(() -> {
            try {
                stopDaemon();
                deleteTree(work);
            } catch (Exception e) {
                System.err.println("cleanup: " + e);
            }
        });
        Runtime.getRuntime().addShutdownHook(cleanup); // kill PID (SIGTERM) leaves nothing behind
        try {
            long data = BenchImage.create(source, size, 1);
            System.out.printf("volume %s, %s written (40%% random, 40%% text, 10%% zeros, 10%% never written); "
                    + "%d rounds; shadowcopy %s; references: %s%n", Sizes.format(size), Sizes.format(data), rounds,
                    encrypted ? "encrypted (AES-256-GCM)" : "unencrypted", String.join(", ", tools));
            startDaemon();
            cli("volume", "create", "vol", "--size", Long.toString(size));
            Path loop = Path.of(cli("volume", "attach", "vol").trim());
            try (FileChannel ch = FileChannel.open(loop, StandardOpenOption.WRITE)) {
                BenchImage.write(ch, size, 1);
            }
            Path pass = work.resolve("passphrase");
            Files.writeString(pass, "bench-passphrase\n");
            for (int r = 0; r < rounds; r++) {
                round(r, source, loop, pass, data);
            }
            report();
        } finally {
            Runtime.getRuntime().removeShutdownHook(cleanup);
            stopDaemon();
            deleteTree(work);
        }
    }

    private void round(int r, Path source, Path loop, Path pass, long data) throws Exception {
        System.out.printf("%n== round %d ==%n", r + 1);
        Path ours = work.resolve("ours");
        Path restic = work.resolve("restic");
        Path borg = work.resolve("borg");
        List<String> passArgs = encrypted ? List.of("--passphrase-file", pass.toString()) : List.of();
        List<String> backup = new ArrayList<>(List.of("backup", "--for", "vol", "--repo", ours.toString(), "--json"));
        backup.addAll(passArgs);
        if (tools.contains("restic")) {
            run(Map.of("RESTIC_PASSWORD", "bench"), "restic", "init", "-q", "-r", restic.toString());
        }
        if (tools.contains("borg")) {
            run(Map.of("BORG_PASSPHRASE", "bench"), "borg", "init", "-e", "repokey-blake2", borg.toString());
        }

        // full backups
        String full = timed("full", "shadowcopy", () -> described(cliArgs(backup)), ours);
        if (tools.contains("qemu-img")) {
            Path q = work.resolve("qemu.qcow2");
            timed("full", "qemu-img", () -> run(Map.of(), "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c",
                    "-o", "compression_type=zstd", source.toString(), q.toString()), q);
            sizes.put("qemu-img", Files.size(q));
            Files.delete(q);
        }
        String resticFull = null;
        if (tools.contains("restic")) {
            resticFull = timed("full", "restic", () -> {
                String out = run(Map.of("RESTIC_PASSWORD", "bench"), "restic", "-r", restic.toString(), "backup",
                        "--json", "-q", source.toString());
                int i = out.indexOf("\"snapshot_id\":\"");
                return out.substring(i + 15, out.indexOf('"', i + 15));
            }, restic);
        }
        if (tools.contains("borg")) {
            timed("full", "borg", () -> run(Map.of("BORG_PASSPHRASE", "bench"), "borg", "create", "--compression",
                    "zstd,1", borg + "::full", source.toString()), borg);
        }
        sizes.put("shadowcopy", du(ours));
        sizes.put("restic", du(restic));
        sizes.put("borg", du(borg));

        // incrementals: the same changes to the image and the volume
        for (String kind : List.of("runs", "scattered")) {
            List<BenchImage.Change> changes = BenchImage.changes(size, kind.equals("runs") ? 1 << 20 : 4096,
                    31L * r + kind.length());
            BenchImage.apply(source, changes);
            BenchImage.apply(loop, changes);
            String row = "incremental " + kind;
            timed(row, "shadowcopy", () -> described(cliArgs(backup)), ours);
            if (tools.contains("restic")) {
                timed(row, "restic", () -> run(Map.of("RESTIC_PASSWORD", "bench"), "restic", "-r", restic.toString(),
                        "backup", "-q", source.toString()), restic);
            }
            if (tools.contains("borg")) {
                timed(row, "borg", () -> run(Map.of("BORG_PASSPHRASE", "bench"), "borg", "create", "--compression",
                        "zstd,1", borg + "::" + kind, source.toString()), borg);
            }
        }

        // restores of the full backup, each to a new file, and a plain write of the same bytes
        Path out = work.resolve("restored");
        Files.createDirectories(out);
        List<String> restore = new ArrayList<>(List.of("restore", full, "--volume", "vol", "--repo", ours.toString(),
                "--to", out.resolve("ours.img").toString(), "--json"));
        restore.addAll(passArgs);
        timed("restore", "shadowcopy", () -> cliArgs(restore), out);
        if (tools.contains("restic")) {
            String snap = resticFull;
            timed("restore", "restic", () -> run(Map.of("RESTIC_PASSWORD", "bench"), "restic", "-r", restic.toString(),
                    "restore", snap, "--target", out.resolve("restic").toString()), out);
        }
        if (tools.contains("borg")) {
            Path b = Files.createDirectories(out.resolve("borg"));
            timed("restore", "borg", () -> runIn(b, Map.of("BORG_PASSPHRASE", "bench"), "borg", "extract", "--sparse",
                    borg + "::full"), out);
        }
        timed("restore", "plain write", () -> {
            plainWrite(out.resolve("plain.img"), data);
            return "";
        }, out);
        for (Path p : List.of(out, ours, restic, borg)) {
            deleteTree(p);
        }
    }

    /** The backup's id, after printing what it read and stored (from {@code backup --json}). */
    private static String described(String json) throws IOException {
        var r = JSON.readTree(json);
        var v = r.path("backup").path("volumes").path(0);
        System.out.printf("  (%s: read %s, %d new chunks, stored %s; %.2f s in the daemon)%n", v.path("mode").asText(),
                Sizes.format(v.path("bytes_read").asLong()), v.path("new_chunks").asLong(),
                Sizes.format(v.path("stored_bytes").asLong()), r.path("elapsed_ms").asLong() / 1000.0);
        return JSON.readTree(json).path("backup").path("id").asText();
    }

    private void report() {
        System.out.printf("%n== medians of %d rounds ==%n", rounds);
        figures.forEach((k, v) -> System.out.printf("%-40s %8.2f s   (%s)   cpu %6.2f s%n", k, median(v), v.stream()
                .map(x -> String.format("%.2f", x)).toList(), median(cpu.get(k))));
        double full = m("full", "shadowcopy");
        System.out.println();
        ratio("full: qemu-img / shadowcopy (target >= 2)", m("full", "qemu-img"), full);
        ratio("full: borg / shadowcopy (target >= 1.5)", m("full", "borg"), full);
        ratio("full: restic / shadowcopy", m("full", "restic"), full);
        System.out.printf("%-52s %6.2f %%%n", "incremental, 1% in 1 MiB runs / full (target <= 3 %)",
                100 * m("incremental runs", "shadowcopy") / full);
        System.out.printf("%-52s %6.2f %%%n", "incremental, 1% scattered 4 KiB / full (target <= 15 %)",
                100 * m("incremental scattered", "shadowcopy") / full);
        double restore = m("restore", "shadowcopy");
        ratio("restore: restic / shadowcopy (target >= 1.5)", m("restore", "restic"), restore);
        ratio("restore: borg / shadowcopy", m("restore", "borg"), restore);
        ratio("restore: plain write / shadowcopy (target >= 0.8)", m("restore", "plain write"), restore);
        System.out.println();
        sizes.forEach((k, v) -> System.out.printf("repository after the full, %-12s %s%n", k + ":", Sizes.format(v)));
    }

    private void ratio(String what, double reference, double ours) {
        if (!Double.isNaN(reference)) {
            System.out.printf("%-52s %6.2fx%n", what, reference / ours);
        }
    }

    private double m(String row, String tool) {
        List<Double> v = figures.get(row + " / " + tool);
        return v == null ? Double.NaN : median(v);
    }

    private static double median(List<Double> v) {
        List<Double> s = v.stream().sorted().toList();
        return s.size() % 2 == 1 ? s.get(s.size() / 2) : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
    }

    // ------------------------------------------------------------------ steps

    private interface Step {
        String run() throws Exception;
    }

    /** Drops the page cache, runs the step, syncs the file system of {@code durable}; records the seconds. */
    private String timed(String row, String tool, Step step, Path durable) throws Exception {
        dropCaches();
        stepCpu = 0;
        double daemon0 = daemonCpu();
        long t0 = System.nanoTime();
        String out = step.run();
        run(Map.of(), "sync", "-f", Files.exists(durable) ? durable.toString() : work.toString());
        double s = (System.nanoTime() - t0) / 1e9;
        double c = stepCpu + (tool.equals("shadowcopy") ? daemonCpu() - daemon0 : 0);
        figures.computeIfAbsent(row + " / " + tool, k -> new ArrayList<>()).add(s);
        cpu.computeIfAbsent(row + " / " + tool, k -> new ArrayList<>()).add(c);
        System.out.printf("%-24s %-12s %7.2f s   cpu %6.2f s%n", row, tool, s, c);
        return out;
    }

    private void plainWrite(Path file, long bytes) throws IOException {
        byte[] b = new byte[1 << 20];
        Arrays.fill(b, (byte) 0x5a);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(b.length);
            buf.put(b).flip();
            for (long off = 0; off < bytes; off += b.length) {
                buf.clear().limit((int) Math.min(b.length, bytes - off));
                long p = off;
                while (buf.hasRemaining()) {
                    p += ch.write(buf, p);
                }
            }
            ch.force(true);
        }
    }

    private void startDaemon() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(javaCommand, "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(aotOptions());
        if (jfr != null) {
            Files.createDirectories(jfr);
            cmd.add("-XX:StartFlightRecording=filename=" + jfr.resolve("daemon.jfr") + ",settings=profile,dumponexit=true");
        }
        cmd.addAll(List.of("-cp", cliClasspath, "dev.shadowcopy.cli.Main", "daemon", "--state", state.toString()));
        daemon = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(work.resolve("daemon.log").toFile()).start();
        for (int i = 0; i < 600 && !Files.exists(state.resolve("shadowcopy.sock")); i++) {
            if (!daemon.isAlive()) {
                throw new IOException("daemon died: " + Files.readString(work.resolve("daemon.log")));
            }
            Thread.sleep(50);
        }
    }

    private synchronized void stopDaemon() throws Exception {
        if (daemon == null || !daemon.isAlive()) {
            return;
        }
        try {
            cli("volume", "detach", "vol", "--force");
        } catch (IOException e) {
            System.err.println("detach: " + e.getMessage());
        }
        daemon.destroy();
        daemon.waitFor(60, TimeUnit.SECONDS);
    }

    private String cli(String... args) throws Exception {
        return cliArgs(List.of(args));
    }

    private String cliArgs(List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(javaCommand, "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(aotOptions());
        if (jfr != null && args.getFirst().equals("restore")) {
            cmd.add("-XX:StartFlightRecording=filename=" + jfr.resolve("restore.jfr") + ",settings=profile");
        }
        cmd.addAll(List.of("-cp", cliClasspath, "dev.shadowcopy.cli.Main"));
        cmd.addAll(args);
        cmd.addAll(List.of("--state", state.toString()));
        return runIn(null, Map.of(), cmd.toArray(String[]::new));
    }

    private List<String> aotOptions() {
        if (cliAot == null || !Files.isRegularFile(Path.of(cliAot))) {
            return List.of();
        }
        return List.of("-XX:AOTCache=" + cliAot, "-Xlog:aot=off", "-Xlog:cds=off");
    }

    private String run(Map<String, String> env, String... cmd) throws Exception {
        return runIn(null, env, cmd);
    }

    /** CPU seconds the daemon has used so far (utime + stime of /proc/PID/stat, in clock ticks of 1/100 s). */
    private double daemonCpu() throws IOException {
        String stat = Files.readString(Path.of("/proc/" + daemon.pid() + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    }

    private String runIn(Path cwd, Map<String, String> env, String... cmdline) throws Exception {
        Path times = work.resolve("times");
        List<String> wrapped = new ArrayList<>(List.of("/usr/bin/time", "-f", "%U %S", "-o", times.toString()));
        wrapped.addAll(List.of(cmdline));
        String[] cmd = wrapped.toArray(String[]::new);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.appendTo(
                work.resolve("tools.log").toFile()));
        if (cwd != null) {
            pb.directory(cwd.toFile());
        }
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        int rc = p.waitFor();
        if (Files.exists(times)) {
            for (String line : Files.readAllLines(times)) {
                String[] us = line.trim().split(" ");
                if (us.length == 2 && us[0].matches("[0-9.]+")) {
                    stepCpu += Double.parseDouble(us[0]) + Double.parseDouble(us[1]);
                }
            }
            Files.delete(times);
        }
        if (rc != 0) {
            throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): "
                    + new String(out, StandardCharsets.UTF_8) + " (see " + work.resolve("tools.log") + ")");
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    private static long du(Path p) throws IOException {
        if (!Files.exists(p)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(p)) {
            return s.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted((a, b) -> b.compareTo(a)).forEach(f -> f.toFile().delete());
        }
    }

    /** Every step starts with its input on disk, not in the page cache. */
    private void dropCaches() throws Exception {
        run(Map.of(), "sync");
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }
}
