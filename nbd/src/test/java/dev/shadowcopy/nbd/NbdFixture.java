package dev.shadowcopy.nbd;

import dev.shadowcopy.device.VolumeEvents;
import dev.shadowcopy.nbd.export.VolumeExports;
import dev.shadowcopy.nbd.server.NbdServer;
import dev.shadowcopy.volume.VolumeManager;
import java.io.IOException;
import java.nio.file.Path;

/** A volume manager and an NBD server on a temporary state directory. */
final class NbdFixture implements AutoCloseable {
    final Path dir;
    final VolumeManager volumes;
    final VolumeExports exports;
    final NbdServer server;

    NbdFixture(Path dir) throws IOException {
        this(dir, null);
    }

    NbdFixture(Path dir, NbdServer.Config config) throws IOException {
        this.dir = dir;
        this.volumes = VolumeManager.open(dir.resolve("volumes"), VolumeEvents.NONE);
        this.exports = new VolumeExports(volumes);
        this.server = NbdServer.start(exports, config != null ? config : NbdServer.Config.unix(dir.resolve("nbd.sock")));
    }

    /** The NBD URI of an export on the Unix socket, as qemu, libnbd and nbdfuse take it. */
    String uri(String export) {
        return "nbd+unix:///" + export + "?socket=" + server.unixSocket();
    }

    @Override
    public void close() throws IOException {
        try {
            server.close();
        } finally {
            volumes.close();
        }
    }
}
