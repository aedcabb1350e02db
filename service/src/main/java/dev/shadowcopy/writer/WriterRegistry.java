package dev.shadowcopy.writer;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The writers the service knows: Java writers in its process, the hooks directory (read again at every
 * gather, so adding a hook needs no restart), and external writers registered over the API.
 */
public final class WriterRegistry {
    private final Path hooksDir;
    private final Map<String, Writer> builtin = new ConcurrentHashMap<>();
    private final Map<UUID, ExternalWriter> external = new ConcurrentHashMap<>();

    public WriterRegistry(Path hooksDir) {
        this.hooksDir = hooksDir;
    }

    public Path hooksDir() {
        return hooksDir;
    }

    public void addBuiltin(Writer w) {
        builtin.put(w.name(), w);
    }

    public synchronized ExternalWriter register(String name, WriterMetadata metadata, Duration lease)
            throws ServiceException {
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9 ._:-]{0,63}")) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "writer name must be 1-64 letters, digits, "
                    + "spaces, '.', '_', ':' or '-', starting with a letter or digit; was '" + name + "'");
        }
        for (Writer w : current()) {
            if (w.name().equals(name)) {
                throw new ServiceException(VssError.OBJECT_ALREADY_EXISTS, "a writer named '" + name
                        + "' is already registered (" + w.kind() + ")");
            }
        }
        ExternalWriter w = new ExternalWriter(UUID.randomUUID(), name, metadata, lease);
        external.put(w.id(), w);
        return w;
    }

    public Optional<ExternalWriter> external(UUID id) {
        return Optional.ofNullable(external.get(id));
    }

    public void unregister(UUID id, String reason) {
        ExternalWriter w = external.remove(id);
        if (w != null) {
            w.gone(reason);
        }
    }

    /** Every writer that is there now: built-in, hooks, live external writers (gone ones are dropped). */
    public List<Writer> current() throws ServiceException {
        List<Writer> out = new ArrayList<>(builtin.values());
        try {
            out.addAll(HookWriter.scan(hooksDir));
        } catch (IOException e) {
            throw new ServiceException(VssError.WRITER_INFRASTRUCTURE, "cannot read the hooks directory " + hooksDir
                    + ": " + e.getMessage());
        }
        for (ExternalWriter w : List.copyOf(external.values())) {
            if (w.alive()) {
                out.add(w);
            } else {
                external.remove(w.id());
            }
        }
        out.sort((a, b) -> a.name().compareTo(b.name()));
        return out;
    }
}
