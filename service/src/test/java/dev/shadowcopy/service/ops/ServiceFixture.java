package dev.shadowcopy.service.ops;

import dev.shadowcopy.service.DaemonConfig;
import dev.shadowcopy.service.Service;
import dev.shadowcopy.service.catalog.ShadowRecord;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.sequence.Context;
import dev.shadowcopy.service.sequence.Session;
import dev.shadowcopy.service.sequence.Timeouts;
import dev.shadowcopy.volume.VolumeConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** A service on a temporary state directory with two small volumes, a and b, for the role objects' tests. */
abstract class ServiceFixture {
    @TempDir
    Path tmp;
    Service service;

    @BeforeEach
    void start() throws Exception {
        Timeouts t = new Timeouts(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(5),
                Duration.ofSeconds(5));
        service = Service.start(new DaemonConfig(tmp.resolve("state"), null, null, t, null));
        service.volumes().create(VolumeConfig.sparse("a", 8 << 20));
        service.volumes().create(VolumeConfig.sparse("b", 8 << 20));
    }

    @AfterEach
    void stop() throws Exception {
        service.close();
    }

    Session session(Context c) throws ServiceException {
        return service.sessions().open(c, "full", Set.of(), Set.of(), "test", null);
    }

    /** One persistent copy of {@code volume}, protected until {@code until} (or not, when null). */
    ShadowRecord copy(String volume, Instant until) throws Exception {
        return service.sessions().createSet(session(Context.NAS_ROLLBACK), List.of(volume), until).copies()
                .getFirst();
    }

    boolean logged(String type) {
        return service.events().since(0, 2000).stream().anyMatch(e -> e.path("type").asText().equals(type));
    }
}
