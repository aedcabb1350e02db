package dev.shadowcopy.provider.row;

import dev.shadowcopy.platform.Formats;
import dev.shadowcopy.platform.Storage;
import dev.shadowcopy.provider.store.CheckpointFile;
import dev.shadowcopy.provider.store.VersionIndex;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

/**
 * A redirect-on-write volume's metadata at one moment. Frame and sections as in {@link CheckpointFile},
 * magic {@code "SCROWCP1"}; the body is: shadows section; runs section of each chunk's live epoch; runs
 * section of each chunk's live location + 3 (0 base, 2 zeros, slot + 3); versions section (locations: slot,
 * -1 zeros, -3 base).
 */
final class RowCheckpoint {
    static final long MAGIC = Formats.ROW_CHECKPOINT_MAGIC; // "SCROWCP1"

    private RowCheckpoint() {}

    record Image(CheckpointFile.Header header, List<CheckpointFile.Shadow> shadows, RowState state) {}

    static void write(Storage storage, Path dir, UUID volume, Image image) throws IOException {
        RowState s = image.state();
        new CheckpointFile.Writer().shadows(image.shadows()).runs(s.liveEpoch).runs(s.encodedLocations())
                .versions(s.versions).publish(storage, dir, MAGIC, volume, image.header());
    }

    static Image read(Storage storage, Path dir, UUID volume, long chunks) throws IOException {
        CheckpointFile.Reader r = CheckpointFile.read(storage, dir, MAGIC, volume, chunks);
        if (r == null) {
            return null;
        }
        List<CheckpointFile.Shadow> shadows = r.shadows();
        var liveEpoch = r.runs();
        var liveLocation = r.runs();
        VersionIndex versions = r.versions(VersionIndex.BASE);
        return new Image(r.header(), shadows, new RowState(liveEpoch, liveLocation, versions));
    }
}
