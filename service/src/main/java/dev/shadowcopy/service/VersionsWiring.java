package dev.shadowcopy.service;

import dev.shadowcopy.attach.Attachment;
import dev.shadowcopy.attach.loop.DeviceUsers;
import dev.shadowcopy.service.catalog.Catalog;
import dev.shadowcopy.service.catalog.EventLog;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.ops.ShadowCopies;
import dev.shadowcopy.service.ops.Volumes;
import dev.shadowcopy.service.provider.ForeignVolumes;
import dev.shadowcopy.service.versions.VersionsHost;
import dev.shadowcopy.volume.ManagedVolume;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Previous versions' view of the service: where paths live, copies, exposures (see {@link VersionsHost}). */
final class VersionsWiring implements VersionsHost {
    private final Catalog catalog;
    private final EventLog events;
    private final Volumes volumes;
    private final ShadowCopies shadows;

    VersionsWiring(Catalog catalog, EventLog events, Volumes volumes, ShadowCopies shadows) {
        this.catalog = catalog;
        this.events = events;
        this.volumes = volumes;
        this.shadows = shadows;
    }

    @Override
    public Located locate(Path path) throws IOException {
        if (!path.isAbsolute()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "the path must be absolute, was " + path);
        }
        Path p = path.normalize();
        Path existing = p;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            existing = Path.of("/");
        }
        Path real = existing.toRealPath().resolve(existing.relativize(p));
        for (ForeignVolumes.Foreign f : volumes.btrfsVolumes()) {
            if (f.holds(real)) {
                Path top = real;
                while (top.getParent() != null && f.holds(top.getParent())) {
                    top = top.getParent();
                }
                return new Located(f.name(), top, top.relativize(real).toString());
            }
        }
        // the mount the path is on, and the device it is mounted from
        String[] m = findmnt(existing.toRealPath());
        String source = m[0].replaceFirst("\\[.*\\]$", "");
        Path target = Path.of(m[1]);
        String fsRoot = m[2];
        for (ManagedVolume v : volumes.list()) {
            Optional<Attachment> a = volumes.attachment(v.name());
            if (a.isPresent() && a.get().loopDevice().equals(source)) {
                String inFs = Path.of(fsRoot).resolve(target.relativize(real).toString()).normalize().toString();
                return new Located(v.name(), target, inFs.replaceFirst("^/+", ""));
            }
        }
        throw new ServiceException(VssError.OBJECT_NOT_FOUND, path + " is not on a volume the service copies: it is on "
                + source + " mounted on " + target + ". Previous versions exist for files on attached volumes ("
                + "'shadowcopy volume attach', then mount the device) and on registered btrfs subvolumes; see "
                + "'shadowcopy list volumes'");
    }

    /** SOURCE, TARGET, FSROOT of the mount holding {@code p} (findmnt -T). */
    private static String[] findmnt(Path p) throws IOException {
        Process proc = new ProcessBuilder("findmnt", "-n", "-r", "-o", "SOURCE,TARGET,FSROOT", "-T", p.toString())
                .redirectErrorStream(true).start();
        try {
            String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!proc.waitFor(30, TimeUnit.SECONDS) || proc.exitValue() != 0 || out.isEmpty()) {
                proc.destroyForcibly();
                throw new IOException("findmnt cannot tell which mount holds " + p + ": " + out);
            }
            String[] f = out.lines().findFirst().orElseThrow().split(" ");
            if (f.length < 3) {
                throw new IOException("findmnt answered '" + out + "' for " + p);
            }
            for (int i = 0; i < f.length; i++) {
                f[i] = DeviceUsers.unescape(f[i].replace("\\x20", "\\040"));
            }
            return f;
        } catch (InterruptedException e) {
            proc.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: findmnt");
        }
    }

    @Override
    public Path mountPoint(String volume) throws IOException {
        ForeignVolumes.Foreign f = volumes.btrfs(volume);
        if (f != null) {
            return Path.of(f.description().substring(f.description().indexOf('/')));
        }
        volumes.get(volume);
        Optional<Attachment> a = volumes.attachment(volume);
        if (a.isEmpty()) {
            return null;
        }
        List<String> mps = DeviceUsers.mountPoints(a.get().loopDevice());
        return mps.isEmpty() ? null : Path.of(mps.stream().min(Comparator.comparing(String::length)).orElseThrow());
    }

    @Override
    public List<Copy> copies(String volume) throws IOException {
        if (volumes.btrfs(volume) == null) {
            volumes.get(volume); // refused with the usual error if there is no such volume
        }
        List<Copy> out = new ArrayList<>();
        for (ShadowRecord r : catalog.copies()) {
            if (r.volume().equals(volume) && r.state() == ShadowRecord.State.CREATED) {
                out.add(copy(r));
            }
        }
        out.sort(Comparator.comparing(Copy::created));
        return out;
    }

    private Copy copy(ShadowRecord r) {
        ForeignVolumes.Foreign f = volumes.btrfs(r.volume());
        return new Copy(r.id().toString(), r.volume(), r.created(), r.exposedPath() == null ? null
                : Path.of(r.exposedPath()), f == null ? null : f.path(r.id()));
    }

    @Override
    public Copy copy(String id) throws IOException {
        ShadowRecord r = shadows.get(id);
        if (r.state() != ShadowRecord.State.CREATED) {
            throw new ServiceException(VssError.OBJECT_NOT_FOUND, "shadow copy " + r.id() + " is "
                    + r.state().wireName() + ": its data is not there");
        }
        return copy(r);
    }

    @Override
    public void expose(String id, Path mountPoint) throws IOException {
        shadows.expose(id, mountPoint);
    }

    @Override
    public void unexpose(String id) throws IOException {
        shadows.unexpose(id, false);
    }

    @Override
    public void event(String type, String level, String message, Map<String, Object> details) {
        events.append(type, level, message, details);
    }
}
