package dev.shadowcopy.service.backup;

import dev.shadowcopy.attach.Attacher;
import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.image.backup.Progress;
import dev.shadowcopy.image.maintenance.Verifier;
import dev.shadowcopy.image.manifest.BackupStore;
import dev.shadowcopy.image.manifest.Manifest;
import dev.shadowcopy.image.manifest.Verdicts;
import dev.shadowcopy.image.repository.Repository;
import dev.shadowcopy.image.repository.RepositoryLock;
import dev.shadowcopy.image.restore.RepositoryDevice;
import dev.shadowcopy.overlay.OverlayDevice;
import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.ops.TakeOver;
import dev.shadowcopy.writer.WriterMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * {@code backups verify --deep} (Veeam's SureBackup): a backup point is proven restorable, not only intact. First every
 * chunk it needs is read and re-hashed ({@link Verifier}); then each volume is attached as a loop device over a
 * throw-away overlay of the point (the repository is never written) and its file system checked read-only by its own
 * tool ({@link FileSystemCheck}); then every database a writer covered is started on those overlays and checked by its
 * own tool ({@link DatabaseCheck}). The verdict and its time are stored with the point ({@link Verdicts}); a failure is
 * an event ({@code backup-verify-failed}).
 *
 * <p>What the backup recorded about the volumes at its instant guides the checks: the components document's
 * {@code volumes} (mount point and file system type of each volume, written by {@link BackupJob}); without it (older
 * points) a data directory is found by the longest tail of its original path that exists on the volume.
 *
 * <p>Scratch: overlays in {@code STATE/verify/} (the daemon's, private); mount points and database sockets in
 * {@code $TMPDIR/shadowcopy-verify-*} (mode 0711, so a database server running as its own user reaches them). Both
 * go when the point is done; a crash leaves attachments ({@code verify/…}, dropped at the next start) and mounts there
 * (unmounted at the next start, {@link TakeOver#verifyScratch}).
 */
public final class DeepVerify {
    private final Path state;
    private final Attacher attacher;
    private final EventLog events;

    public DeepVerify(Path state, Attacher attacher, EventLog events) {
        this.state = state;
        this.attacher = attacher;
        this.events = events;
    }

    /** The verdicts of the points verified, in order. */
    public record Result(List<Verdicts.Verdict> verdicts, Verifier.Report chunks) {
        public boolean ok() {
            return verdicts.stream().allMatch(Verdicts.Verdict::ok) && chunks.ok();
        }
    }

    /** Verifies backup points {@code ids} (all when empty) of {@code repo} deeply, and records each verdict. */
    public Result verify(Repository repo, String repository, List<String> ids, int threads, Progress progress)
            throws IOException {
        Verifier.Report chunks = Verifier.verify(repo, ids, threads, Duration.ofMinutes(10), progress);
        List<String> chosen = new ArrayList<>();
        if (ids == null || ids.isEmpty()) {
            chosen.addAll(BackupStore.of(repo).ids());
        } else {
            for (String id : ids) {
                chosen.add(BackupStore.of(repo).resolve(id));
            }
        }
        List<Verdicts.Verdict> verdicts = new ArrayList<>();
        try (RepositoryLock lock = repo.lock(RepositoryLock.Mode.SHARED, Duration.ofMinutes(10),
                "the deep verification")) { // taken and let go on this thread
            for (String id : chosen) {
                long t0 = System.nanoTime();
                progress.update("verify backup " + id, 0, 0);
                List<Verdicts.Check> checks = new ArrayList<>();
                List<String> damage = chunks.damagedBackups().get(id);
                checks.add(damage == null
                        ? new Verdicts.Check("chunks", "re-hash", true, "every chunk reads back and hashes to its name")
                        : new Verdicts.Check("chunks", "re-hash", false, String.join("; ", damage)));
                if (damage == null) {
                    checks.addAll(point(repo, id));
                }
                Verdicts.Verdict v = new Verdicts.Verdict(Verdicts.Verdict.FORMAT, id, checks.stream()
                        .allMatch(Verdicts.Check::ok), Instant.now().toString(), (System.nanoTime() - t0) / 1e9, true,
                        checks);
                Verdicts.of(repo).record(v);
                verdicts.add(v);
                if (!v.ok()) {
                    events.append("backup-verify-failed", "error", "backup " + id + " in " + repository + " is not "
                            + "restorable as it is: " + v.firstProblem(), Map.of("backup", id, "repository",
                            repository));
                } else {
                    events.append("backup-verified", "info", "backup " + id + " in " + repository + " is proven "
                            + "restorable (" + (checks.size() - 1) + " file system and database checks)",
                            Map.of("backup", id, "repository", repository));
                }
            }
        }
        return new Result(verdicts, chunks);
    }

    /** One volume of the point, attached and checked. */
    private record Volume(Manifest.VolumeEntry entry, String key, String device, OverlayDevice overlay, Path mount) {}

    /** The file system and database checks of one point. */
    private List<Verdicts.Check> point(Repository repo, String id) throws IOException {
        List<Verdicts.Check> checks = new ArrayList<>();
        Manifest m;
        try {
            m = BackupStore.of(repo).manifest(id);
        } catch (IOException e) {
            return List.of(new Verdicts.Check("manifest", null, false, e.getMessage()));
        }
        String token = UUID.randomUUID().toString().substring(0, 8);
        Path overlays = Files.createDirectories(state.resolve("verify"));
        Path scratch = Files.createTempDirectory(TakeOver.VERIFY_SCRATCH_PREFIX + token + "-");
        // searchable by a database server running as its own user, listable by nobody else (the umask says 0700)
        Files.setPosixFilePermissions(scratch, PosixFilePermissions.fromString("rwx--x--x"));
        Map<String, Volume> attached = new LinkedHashMap<>();
        List<Path> mounted = new ArrayList<>();
        try {
            for (Manifest.VolumeEntry v : m.volumes()) {
                OverlayDevice o = OverlayDevice.create(new RepositoryDevice(repo, m, v), LocalStorage.INSTANCE,
                        overlays.resolve(token + "-" + v.ordinal() + ".img"), "verification overlay of volume "
                        + v.name() + " of backup " + id);
                String key = "verify/" + token + "/" + v.ordinal();
                Attachment a;
                try {
                    a = attacher.attach(key, o, false);
                } catch (IOException | RuntimeException e) {
                    o.close();
                    throw e;
                }
                Volume vol = new Volume(v, key, a.loopDevice(), o, scratch.resolve("volume-" + v.ordinal()));
                attached.put(v.name(), vol);
                checks.add(FileSystemCheck.check(v.name(), vol.device(), recorded(m, v.name(), "type"),
                        vol.mount()));
            }
            checks.addAll(databases(m, attached, scratch, mounted));
        } catch (ServiceException e) {
            checks.add(new Verdicts.Check("writers", null, false, e.getMessage()));
        } finally {
            for (Path p : mounted.reversed()) {
                Program.run(Duration.ofMinutes(2), "umount", p.toString());
            }
            for (Volume v : attached.values()) {
                try {
                    attacher.detach(v.key(), true);
                } catch (IOException | RuntimeException e) {
                    events.append("verify-cleanup", "warning", "could not detach " + v.device() + " of a verification: "
                            + e.getMessage(), Map.of("backup", id));
                }
                v.overlay().close(); // a throw-away overlay: its file goes with it
            }
            Program.run(Duration.ofMinutes(1), "rm", "-rf", "--one-file-system", scratch.toString());
        }
        return checks;
    }

    /** What the backup recorded about volume {@code volume} ({@code mount} or {@code type}), or null. */
    @SuppressWarnings("unchecked")
    private static String recorded(Manifest m, String volume, String field) {
        if (m.components() == null || !(m.components().get("volumes") instanceof Map<?, ?> vs)) {
            return null;
        }
        Object v = vs.get(volume);
        return v instanceof Map<?, ?> f && f.get(field) instanceof String s ? s : null;
    }

    /** Every database a writer of the point covered, started on the overlays and checked. */
    private List<Verdicts.Check> databases(Manifest m, Map<String, Volume> attached, Path scratch, List<Path> mounted)
            throws IOException, ServiceException {
        List<Verdicts.Check> checks = new ArrayList<>();
        int n = 0;
        for (Manifest.WriterEntry w : m.writers()) {
            if (w.metadata() == null || w.metadata().isBlank()) {
                continue;
            }
            WriterMetadata md = WriterMetadata.parse(w.metadata());
            for (WriterMetadata.Component c : md.components()) {
                String lp = c.logicalPath() == null ? "" : c.logicalPath();
                boolean pg = lp.startsWith("postgresql");
                boolean maria = lp.startsWith("mariadb") || lp.startsWith("mysql");
                if (!"database".equals(c.type()) || !(pg || maria) || c.files().isEmpty()) {
                    continue;
                }
                WriterMetadata.FileSpec dataSpec = c.files().getFirst();
                String what = "database " + w.name() + " (" + lp + ") on volume " + dataSpec.volume();
                Volume vol = dataSpec.volume() == null ? null : attached.get(dataSpec.volume());
                if (vol == null) {
                    checks.add(new Verdicts.Check(what, null, false, "its data directory " + dataSpec.path() + " is on "
                            + "no volume of this backup"));
                    continue;
                }
                // every volume of the point mounted read-write on its overlay (WAL or tablespaces may be elsewhere)
                for (Volume v : attached.values()) {
                    String type = mounted.contains(v.mount()) ? null : FileSystemCheck.typeOf(v.device());
                    if (type != null) {
                        Files.createDirectories(v.mount());
                        if (Program.run(Duration.ofMinutes(5), FileSystemCheck.mount(type, v.device(), v.mount()))
                                .ok()) {
                            mounted.add(v.mount());
                        }
                    }
                }
                if (!mounted.contains(vol.mount())) {
                    checks.add(new Verdicts.Check(what, "mount", false, "the file system of volume "
                            + dataSpec.volume() + " does not mount: the database cannot start"));
                    continue;
                }
                Path data = DataDirectory.locate(Path.of(dataSpec.path()), recorded(m, dataSpec.volume(), "mount"),
                        vol.mount());
                if (data == null) {
                    checks.add(new Verdicts.Check(what, null, false, "its data directory " + dataSpec.path()
                            + " is not on the backed-up volume " + dataSpec.volume()));
                    continue;
                }
                List<String> escapes = DataDirectory.confine(data, copies(m, attached, mounted), mounted);
                if (!escapes.isEmpty()) {
                    checks.add(new Verdicts.Check(what, null, false, "not started: its data directory links out of "
                            + "the backup's volumes, where a server would write into files that are not the copy's ("
                            + String.join("; ", escapes) + "); back up every volume it uses in one set"));
                    continue;
                }
                Path work = scratch.resolve("db-" + n++); // made by DatabaseCheck, owned by the database's user
                checks.add(pg ? DatabaseCheck.postgres(what, data, work)
                        : DatabaseCheck.mariadb(what, data, binlogFile(m, w.name()), work));
            }
        }
        return checks;
    }

    /** Each mounted volume's mount point on the original host (as the backup recorded it) to its mounted copy. */
    private static Map<Path, Path> copies(Manifest m, Map<String, Volume> attached, List<Path> mounted) {
        Map<Path, Path> out = new LinkedHashMap<>();
        attached.forEach((name, v) -> {
            String mp = recorded(m, name, "mount");
            if (mp != null && mounted.contains(v.mount())) {
                out.put(Path.of(mp), v.mount());
            }
        });
        return out;
    }

    @SuppressWarnings("unchecked")
    private static String binlogFile(Manifest m, String writer) {
        if (m.components() == null || !(m.components().get("writers") instanceof Map<?, ?> ws)
                || !(ws.get(writer) instanceof Map<?, ?> w) || !(w.get("binlog_file") instanceof String s)
                || s.isBlank()) {
            return null;
        }
        return s;
    }
}
