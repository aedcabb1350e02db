package dev.shadowcopy.image.repository;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The garbage collector's pending generation on object storage, the object {@code gc/pending}: the fence between
 * a collection's mark and its sweep (docs/backup.md, "Many hosts and no lock"). At most one generation is
 * pending; it is deleted when its sweep ends.
 *
 * <p>Object body (a {@link BlobCodec#STATE} blob named {@code gc/pending}): JSON with
 * <ul>
 *   <li>{@code generation}: a counter, one more than the last;</li>
 *   <li>{@code state}: {@code marked} (candidates chosen; operations that began before may still use them) or
 *       {@code sweeping} (being deleted by the collection holding lease {@code owner});</li>
 *   <li>{@code candidates}: base64 of the 32-byte ids of the chunks no backup point named at the mark;</li>
 *   <li>{@code removals}: keys of dead backup directories (interrupted backups or deletions) to remove;</li>
 *   <li>{@code waiting_for}: ids of the leases that were alive after the fence was written: the sweep waits until
 *       each has ended or gone stale.</li>
 * </ul>
 *
 * @param markedAt the store's time of the mark (ISO-8601), for messages
 */
public record Generation(long generation, String state, String owner, String markedAt, String candidates,
                         List<String> removals, List<String> waitingFor) {
    public static final String KEY = "gc/pending";
    public static final String MARKED = "marked";
    public static final String SWEEPING = "sweeping";

    public Generation {
        if (!MARKED.equals(state) && !SWEEPING.equals(state)) {
            throw new IllegalArgumentException("generation state " + state);
        }
        removals = removals == null ? List.of() : List.copyOf(removals);
        waitingFor = waitingFor == null ? List.of() : List.copyOf(waitingFor);
        candidates = candidates == null ? "" : candidates;
    }

    public static String encodeIds(Iterable<ChunkId> ids) {
        List<byte[]> all = new ArrayList<>();
        for (ChunkId c : ids) {
            all.add(c.bytes());
        }
        byte[] b = new byte[all.size() * ChunkId.BYTES];
        for (int i = 0; i < all.size(); i++) {
            System.arraycopy(all.get(i), 0, b, i * ChunkId.BYTES, ChunkId.BYTES);
        }
        return Base64.getEncoder().encodeToString(b);
    }

    /** The marked chunks. */
    @JsonIgnore
    public Set<ChunkId> candidateSet() throws RepositoryException {
        byte[] b;
        try {
            b = Base64.getDecoder().decode(candidates);
        } catch (IllegalArgumentException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, KEY + " is damaged: " + e.getMessage());
        }
        if (b.length % ChunkId.BYTES != 0) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, KEY + " is damaged: candidates of "
                    + b.length + " bytes");
        }
        Set<ChunkId> out = new HashSet<>();
        for (int i = 0; i < b.length; i += ChunkId.BYTES) {
            out.add(ChunkId.of(b, i));
        }
        return out;
    }

    public Generation with(String newState, String newOwner, List<String> newWaitingFor) {
        return new Generation(generation, newState, newOwner, markedAt, candidates, removals, newWaitingFor);
    }

    /** The pending generation, or null when none is. */
    public static Generation read(Repository repo) throws IOException {
        byte[] blob;
        try {
            blob = repo.backend().read(KEY);
        } catch (NoSuchFileException e) {
            return null;
        }
        byte[] plain = repo.codec().decode(BlobCodec.STATE, blob, blob.length, KEY, null);
        try {
            return RepositoryJson.MAPPER.readValue(plain, 0, BlobCodec.plainLength(blob), Generation.class);
        } catch (com.fasterxml.jackson.core.JacksonException | IllegalArgumentException e) {
            throw new RepositoryException(RepositoryException.Code.CORRUPT, KEY + " is damaged: " + e.getMessage());
        }
    }

    /** Publishes this generation (atomic, durable). */
    public void write(Repository repo) throws IOException {
        byte[] plain = RepositoryJson.MAPPER.writeValueAsBytes(this);
        repo.backend().publish(KEY, repo.codec().encode(BlobCodec.STATE, plain, plain.length, KEY));
    }
}
