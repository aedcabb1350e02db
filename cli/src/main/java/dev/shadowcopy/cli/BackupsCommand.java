package dev.shadowcopy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.shadowcopy.device.BlockDevice;
import dev.shadowcopy.image.export.Exporter;
import dev.shadowcopy.image.location.RepositoryLocation;
import dev.shadowcopy.image.maintenance.GarbageCollector;
import dev.shadowcopy.image.maintenance.Pruner;
import dev.shadowcopy.image.maintenance.Retention;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.Verdicts;
import dev.shadowcopy.image.repository.Leases;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.restore.InstantRecovery;
import dev.shadowcopy.nbd.export.DeviceExport;
import dev.shadowcopy.nbd.export.ExportRegistry;
import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.volume.Sizes;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code shadowcopy backups …}: repository commands, run by this process (no daemon needed). */
@Command(name = "backups", mixinStandardHelpOptions = true, description = "Backup repositories: create, list, "
        + "verify, prune, export, serve over NBD.", subcommands = {BackupsCommand.Init.class, BackupsCommand.ListCmd.class,
        BackupsCommand.Show.class, BackupsCommand.Verify.class, BackupsCommand.Prune.class, BackupsCommand.Gc.class,
        BackupsCommand.Delete.class, BackupsCommand.Export.class, BackupsCommand.Serve.class})
final class BackupsCommand implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    static final Duration LOCK_WAIT = Duration.ofSeconds(30);

    /** {@code --repo} and the passphrase, opened on demand. */
    static final class RepoOptions {
        @Option(names = "--repo", required = true, paramLabel = "DIR|s3://BUCKET/PREFIX", description = "Repository: "
                + "a directory, or S3 (endpoint, region and credentials from AWS_ENDPOINT_URL, AWS_REGION, "
                + "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the AWS profile).")
        String repo;

        @Mixin
        PassphraseOption passphrase;

        /** Accepted like on every command, though repository commands need no daemon. */
        @Mixin
        StateOption state;

        Repository open() throws IOException {
            return RepositoryLocation.parse(repo).open(passphrase.get());
        }

        /** With a local chunk cache when the repository is on object storage ({@code backups serve}). */
        Repository openCached() throws IOException {
            return RepositoryLocation.parse(repo).open(passphrase.get(), true);
        }
    }

    /** {@code --host}: whose {@code latest} an id means (default: this machine's). */
    static final class HostOption {
        @Option(names = "--host", paramLabel = "NAME", description = "'latest' means this host's latest backup "
                + "(default: this machine's name).")
        String host;

        String resolve(Repository repo, String id) throws IOException {
            return BackupStore.of(repo).resolve(id, host != null ? host : Leases.HostName.current());
        }
    }

    static int threads(int t) {
        return t > 0 ? t : Runtime.getRuntime().availableProcessors();
    }

    @Command(name = "init", mixinStandardHelpOptions = true, description = "Creates a repository in an empty "
            + "directory (encrypted with AES-256-GCM when a passphrase is given).")
    static final class Init implements Callable<Integer> {
        @Mixin
        RepoOptions r;

        @Option(names = "--chunk-size", paramLabel = "SIZE", description = "Chunk size (4K..16M; default 1M in a "
                + "directory, 4M on S3: see docs/benchmarks.md).")
        String chunkSize;

        @Option(names = "--compression-level", paramLabel = "N", defaultValue = "1", description = "zstd level (default 1: see docs/benchmarks.md).")
        int level;

        @Option(names = "--kdf-iterations", paramLabel = "N", defaultValue = "600000", description = "PBKDF2 "
                + "iterations for the passphrase.")
        int iterations;

        @Override
        public Integer call() throws Exception {
            char[] p = r.passphrase.get();
            RepositoryLocation loc = RepositoryLocation.parse(r.repo);
            int cs = chunkSize != null ? (int) Sizes.parse(chunkSize) : loc.defaults(p).chunkSize();
            try (Repository repo = loc.init(new Repository.InitOptions(cs, level, p, iterations))) {
                System.out.println("Created " + (p != null ? "encrypted " : "") + "repository " + loc + " (id "
                        + repo.config().id() + ", chunks of " + Sizes.format(repo.chunkSize()) + ", zstd level " + level
                        + ")");
            }
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists the backup points.")
    static final class ListCmd implements Callable<Integer> {
        @Mixin
        RepoOptions r;

        @Option(names = "--json", description = "Print as JSON.")
        boolean json;

        @Option(names = "--host", paramLabel = "NAME", description = "Only the backups of this host.")
        String host;

        @Override
        public Integer call() throws Exception {
            Repository repo = r.open();
            List<Manifest> ms = new ArrayList<>();
            List<String> bad = new ArrayList<>();
            for (String id : BackupStore.of(repo).ids()) {
                try {
                    Manifest m = BackupStore.of(repo).manifest(id);
                    if (host == null || host.equals(m.host())) {
                        ms.add(m);
                    }
                } catch (IOException e) {
                    bad.add(id + ": " + e.getMessage());
                }
            }
            Map<String, Verdicts.Verdict> verdicts = new LinkedHashMap<>();
            for (Manifest m : ms) {
                try {
                    Verdicts.Verdict v = Verdicts.of(repo).verdict(m.id());
                    if (v != null) {
                        verdicts.put(m.id(), v);
                    }
                } catch (IOException e) {
                    bad.add(m.id() + ": " + e.getMessage());
                }
            }
            if (json) {
                Format.json(System.out, Json.MAPPER.valueToTree(Map.of("backups", ms, "unreadable", bad, "verdicts",
                        verdicts)));
                return bad.isEmpty() ? 0 : 1;
            }
            Table t = new Table("ID", "HOST", "CREATED", "VOLUMES", "SIZE", "DATA", "NEW", "MODE", "CONSISTENCY",
                    "VERIFIED", "LABEL");
            for (Manifest m : ms) {
                long size = 0;
                long data = 0;
                long stored = 0;
                List<String> modes = new ArrayList<>();
                for (Manifest.VolumeEntry v : m.volumes()) {
                    size += v.size();
                    data += v.allocatedBytes();
                    stored += v.storedBytes();
                    if (!modes.contains(v.mode())) {
                        modes.add(v.mode());
                    }
                }
                t.row(m.id(), m.host(), Format.time(Json.MAPPER.valueToTree(m.created())), String.join(",",
                        m.volumes().stream().map(Manifest.VolumeEntry::name).toList()), Sizes.format(size),
                        Sizes.format(data), Sizes.format(stored), String.join(",", modes), m.consistency(),
                        verified(verdicts.get(m.id())), m.label());
            }
            t.print(System.out);
            for (String b : bad) {
                System.out.println("unreadable: " + b);
            }
            verdicts.forEach((id, v) -> {
                if (!v.ok()) {
                    System.out.println("backup " + id + " FAILED its verification: " + v.firstProblem());
                }
            });
            return bad.isEmpty() ? 0 : 1;
        }

        /** "ok", "deep ok" or "FAILED", with the date of the last verification; "-" if none. */
        private static String verified(Verdicts.Verdict v) {
            if (v == null) {
                return "-";
            }
            return (v.ok() ? (v.deep() ? "deep ok " : "ok ") : "FAILED ") + Format.time(Json.MAPPER.valueToTree(
                    v.checked()));
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "Shows one backup point: volumes, "
            + "writers and their metadata, the backup components document.")
    static final class Show implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "ID")
        String id;

        @Mixin
        RepoOptions r;

        @Mixin
        HostOption host;

        @Override
        public Integer call() throws Exception {
            Repository repo = r.open();
            Format.json(System.out, Json.MAPPER.valueToTree(BackupStore.of(repo).manifest(host.resolve(repo, id))));
            return 0;
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true, description = "Re-reads and re-hashes every chunk "
            + "the backup points need (all, or those named); names every backup point a damaged chunk affects. "
            + "Exit 1 when anything is damaged.")
    static final class Verify implements Callable<Integer> {
        @Parameters(paramLabel = "ID", arity = "0..*")
        List<String> ids;

        @Mixin
        RepoOptions r;

        @Option(names = "--threads", paramLabel = "N", defaultValue = "0")
        int threads;

        @Option(names = "--json", description = "Print the report as JSON.")
        boolean json;

        @Option(names = "--deep", description = "Also prove each point restorable: its file systems checked on "
                + "throw-away overlays (e2fsck -fn, xfs_repair -n, btrfs check --readonly) and the databases its "
                + "writers covered started and checked (pg_amcheck, mariadb-check). Run by the daemon; the verdict is "
                + "stored with the point (backups list: VERIFIED) and a failure is an event.")
        boolean deep;

        @Override
        public Integer call() throws Exception {
            if (deep) {
                return deep();
            }
            ProgressPrinter p = new ProgressPrinter(json);
            Verifier.Report rep;
            try (Repository repo = r.open()) {
                rep = Verifier.verify(repo, ids, threads(threads), LOCK_WAIT, p);
            } finally {
                p.finish();
            }
            if (json) {
                Format.json(System.out, Json.MAPPER.valueToTree(rep));
            } else {
                System.out.println("Checked " + rep.backups() + " backup points: " + rep.chunksChecked() + " chunks, "
                        + Sizes.format(rep.bytesChecked()) + " in " + rep.elapsed().toMillis() / 1000.0 + " s");
                for (Verifier.Damage d : rep.damaged()) {
                    System.out.println("DAMAGED chunk " + d.chunk() + ": " + d.problem());
                    for (Verifier.Use u : d.usedBy()) {
                        System.out.println("    used by backup " + u.backup() + " volume " + u.volume() + " at offset "
                                + u.offset());
                    }
                }
                rep.damagedBackups().forEach((b, why) -> System.out.println("backup " + b + " is damaged ("
                        + why.size() + " problem" + (why.size() == 1 ? "" : "s") + ")"));
                if (rep.ok()) {
                    System.out.println("No damage found.");
                }
            }
            return rep.ok() ? 0 : 1;
        }

        private int deep() throws Exception {
            ObjectNode b = Json.object().put("repository", RepositoryLocation.parse(r.repo).toString())
                    .put("threads", threads);
            if (ids != null) {
                ids.forEach(b.putArray("backups")::add);
            }
            char[] pass = r.passphrase.get();
            if (pass != null) {
                b.put("passphrase", new String(pass));
            }
            ProgressPrinter p = new ProgressPrinter(json);
            JsonNode res;
            try (var api = r.state.connect()) {
                res = api.stream("POST", "/v1/verifications", b, n -> p.update(n.path("phase").asText(),
                        n.path("done").asLong(), n.path("total").asLong()));
            } finally {
                p.finish();
            }
            if (json) {
                Format.json(System.out, res);
            } else {
                for (var v : res.path("verdicts")) {
                    System.out.println("backup " + v.path("backup").asText() + ": " + (v.path("ok").asBoolean()
                            ? "proven restorable" : "FAILED") + " (" + String.format("%.1f", v.path("seconds")
                            .asDouble()) + " s)");
                    for (var c : v.path("checks")) {
                        System.out.println("    " + Format.check(c));
                    }
                }
            }
            return res.path("ok").asBoolean() ? 0 : 1;
        }
    }

    @Command(name = "prune", mixinStandardHelpOptions = true, description = "Deletes the backup points no rule "
            + "keeps (per group of volumes), then collects garbage. Rules as restic/Proxmox: a point kept by any rule "
            + "stays.")
    static final class Prune implements Callable<Integer> {
        @Mixin
        RepoOptions r;

        @Option(names = "--keep-last", paramLabel = "N", defaultValue = "0")
        int last;

        @Option(names = "--keep-daily", paramLabel = "N", defaultValue = "0")
        int daily;

        @Option(names = "--keep-weekly", paramLabel = "N", defaultValue = "0")
        int weekly;

        @Option(names = "--keep-monthly", paramLabel = "N", defaultValue = "0")
        int monthly;

        @Option(names = "--dry-run", description = "Only say what would be deleted.")
        boolean dryRun;

        @Option(names = "--no-gc", description = "Do not collect garbage afterwards.")
        boolean noGc;

        @Option(names = "--json", description = "Print as JSON.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            Retention rules = new Retention(last, daily, weekly, monthly, ZoneId.systemDefault());
            if (!rules.any()) {
                throw new IllegalArgumentException("give at least one of --keep-last, --keep-daily, --keep-weekly, "
                        + "--keep-monthly");
            }
            Pruner.Result res;
            try (Repository repo = r.open()) {
                res = Pruner.prune(repo, rules, dryRun, !noGc, LOCK_WAIT);
            }
            if (json) {
                Format.json(System.out, Json.MAPPER.valueToTree(res));
                return 0;
            }
            Table t = new Table("ID", "VOLUMES", "ACTION", "KEPT BY");
            for (Pruner.Decision d : res.decisions()) {
                t.row(d.id(), d.group(), d.keep() ? "keep" : dryRun ? "would delete" : "deleted",
                        String.join(",", d.reasons()));
            }
            t.print(System.out);
            if (res.gc() != null) {
                System.out.println("Garbage collection: " + res.gc().chunksRemoved() + " chunks removed ("
                        + Sizes.format(res.gc().bytesFreed()) + " freed), " + res.gc().chunksKept() + " kept");
                if (res.gc().pending() != null) {
                    System.out.println("pending: " + res.gc().pending());
                }
            }
            return 0;
        }
    }

    @Command(name = "gc", mixinStandardHelpOptions = true, description = "Removes chunks no backup point needs "
            + "and leftovers of interrupted backups.")
    static final class Gc implements Callable<Integer> {
        @Mixin
        RepoOptions r;

        @Override
        public Integer call() throws Exception {
            GarbageCollector.Result res;
            try (Repository repo = r.open()) {
                res = GarbageCollector.collect(repo, LOCK_WAIT);
            }
            System.out.println(res.chunksRemoved() + " chunks removed (" + Sizes.format(res.bytesFreed()) + " freed), "
                    + res.leftoversRemoved() + " leftovers removed, " + res.chunksKept() + " chunks in use");
            if (res.pending() != null) {
                System.out.println("pending: " + res.pending());
            }
            return 0;
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true, description = "Deletes backup points, readable or "
            + "not (a damaged point a prune keeps); their chunks go at the next gc.")
    static final class Delete implements Callable<Integer> {
        @Parameters(paramLabel = "ID", arity = "1..*", description = "Backup ids (or unique prefixes).")
        List<String> ids;

        @Mixin
        RepoOptions r;

        @Override
        public Integer call() throws Exception {
            try (Repository repo = r.open(); var lock = repo.lock(dev.shadowcopy.image.repository.RepositoryLock.Mode
                    .EXCLUSIVE, LOCK_WAIT, "the delete")) {
                List<String> resolved = new ArrayList<>();
                for (String id : ids) {
                    if ("latest".equals(id)) {
                        throw new IllegalArgumentException("name the backup to delete by its id, not 'latest'");
                    }
                    resolved.add(BackupStore.of(repo).resolve(id));
                }
                for (String id : resolved) {
                    BackupStore.of(repo).delete(id);
                    System.out.println("backup " + id + " deleted (its chunks are removed by the next gc)");
                }
            }
            return 0;
        }
    }

    @Command(name = "export", mixinStandardHelpOptions = true, description = "Writes a volume of a backup point as "
            + "a disk image for hypervisors: qcow2 (written natively), raw, or vmdk/vhdx (through qemu-img convert).")
    static final class Export implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "ID")
        String id;

        @Option(names = "--volume", required = true, paramLabel = "VOL")
        String volume;

        @Option(names = "--format", defaultValue = "qcow2", paramLabel = "FMT", description = "qcow2, raw, vmdk, vhdx.")
        String format;

        @Option(names = "--to", required = true, paramLabel = "FILE")
        Path to;

        @Mixin
        RepoOptions r;

        @Mixin
        HostOption host;

        @Override
        public Integer call() throws Exception {
            Exporter.Format f = Exporter.Format.parse(format);
            ProgressPrinter p = new ProgressPrinter(false);
            Exporter.Result res;
            try (Repository repo = r.open()) {
                res = Exporter.export(repo, host.resolve(repo, id), volume, f, to, threads(0), LOCK_WAIT, p, p::finish);
            } finally {
                p.finish();
            }
            System.out.println("Exported volume " + volume + " of backup " + res.backup() + " to " + to + " (" + format
                    + ", " + Sizes.format(res.bytesOnDisk()) + " on disk)");
            return 0;
        }
    }

    @Command(name = "serve", mixinStandardHelpOptions = true, description = {
        "Instant recovery: serves a volume of a backup point over NBD straight from the repository, until stopped "
            + "(Ctrl-C). Read-only, or with --writable a throw-away overlay takes the writes (deleted at exit), so a "
            + "virtual machine can boot the backup before any restore.",
        "With --writable --overlay PATH the writes are kept in PATH (and PATH.map, PATH.meta): what a flush "
            + "acknowledged survives a kill of this process and a reboot, serving the same backup again with the "
            + "same overlay continues, and `restore ID --volume VOL --to volume:NAME --live --overlay PATH` moves "
            + "it onto a managed volume.",
        "Example: qemu-system-x86_64 -drive file=nbd+unix:///VOL?socket=SOCKET,format=raw"})
    static final class Serve implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "ID")
        String id;

        @Option(names = "--volume", required = true, paramLabel = "VOL")
        String volume;

        @Option(names = "--socket", required = true, paramLabel = "PATH", description = "Unix socket to listen on.")
        Path socket;

        @Option(names = "--writable", description = "Accept writes (into a throw-away overlay, or --overlay).")
        boolean writable;

        @Option(names = "--overlay", paramLabel = "PATH", description = "Keep the writes in this durable overlay "
                + "(made if missing; with --writable).")
        Path overlay;

        @Mixin
        RepoOptions r;

        @Mixin
        HostOption host;

        @Override
        public Integer call() throws Exception {
            Repository repo = r.openCached(); // on S3 a local chunk cache serves the guest's repeated reads
            Closeable lease = repo.readLease("serve of a backup"); // held until stopped
            InstantRecovery recovery = InstantRecovery.open(repo, host.resolve(repo, id), volume, writable, overlay);
            String backup = recovery.backup();
            BlockDevice served = recovery.device();
            ExportRegistry reg = new ExportRegistry() {
                @Override
                public List<Listing> list() {
                    return List.of(new Listing(volume, served.name()));
                }

                @Override
                public dev.shadowcopy.nbd.export.Export open(String name) {
                    return name.equals(volume) || name.isEmpty() ? new DeviceExport(volume, served.name(), served) : null;
                }
            };
            Files.deleteIfExists(socket);
            NbdServer server = NbdServer.start(reg, NbdServer.Config.unix(socket));
            if (recovery.overlay() != null) {
                recovery.overlay().serving(socket, volume); // for a live restore that takes this guest over
            }
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    server.close();
                    recovery.close();
                    lease.close();
                    Files.deleteIfExists(socket);
                } catch (IOException e) {
                    System.err.println("shadowcopy: cleanup: " + e.getMessage());
                }
                stop.countDown();
            }));
            String mode = !writable ? " (read-only)" : recovery.overlay() == null ? " (writable overlay, discarded at exit)"
                    : " (writable; writes kept in " + recovery.overlay().path() + ", durable at each flush; "
                    + Sizes.format(recovery.overlay().bytes()) + " written so far)";
            System.out.println("Serving volume " + volume + " of backup " + backup + mode + " on nbd+unix:///" + volume
                    + "?socket=" + socket);
            System.out.flush();
            stop.await();
            return 0;
        }
    }
}
