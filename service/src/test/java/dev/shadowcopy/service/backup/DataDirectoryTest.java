package dev.shadowcopy.service.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A database started from a backup point stays on the copy: its data directory is found on the mounted copy, links
 * into other volumes of the point are pointed at their copies, and a link anywhere else stops it.
 */
class DataDirectoryTest {
    @TempDir
    Path tmp;
    Path data;   // the copy of /srv/db, mounted at tmp/volume-0
    Path wal;    // the copy of /srv/wal, mounted at tmp/volume-1
    Path outside;

    @BeforeEach
    void copies() throws IOException {
        data = Files.createDirectories(tmp.resolve("volume-0/pg/data"));
        wal = Files.createDirectories(tmp.resolve("volume-1/pg_wal"));
        outside = Files.createDirectories(tmp.resolve("live-server-files"));
    }

    private List<String> confine() throws IOException {
        return DataDirectory.confine(data, Map.of(Path.of("/srv/db"), tmp.resolve("volume-0"), Path.of("/srv/wal"),
                tmp.resolve("volume-1")), List.of(tmp.resolve("volume-0"), tmp.resolve("volume-1")));
    }

    @Test
    void theDataDirectoryIsFoundUnderItsVolumesRecordedMountPointOrByItsTail() throws IOException {
        assertEquals(data, DataDirectory.locate(Path.of("/srv/db/pg/data"), "/srv/db", tmp.resolve("volume-0")));
        assertEquals(data, DataDirectory.locate(Path.of("/mnt/old/pg/data"), null, tmp.resolve("volume-0")));
        assertNull(DataDirectory.locate(Path.of("/srv/db/elsewhere"), "/srv/db", tmp.resolve("volume-0")));
    }

    @Test
    void aDataDirectoryThatLinksOutOfTheCopyIsNotFound() throws IOException {
        Files.createSymbolicLink(tmp.resolve("volume-0/escape"), outside);
        assertNull(DataDirectory.locate(Path.of("/srv/db/escape"), "/srv/db", tmp.resolve("volume-0")));
        assertNull(DataDirectory.locate(Path.of("/srv/db/../../etc"), "/srv/db", tmp.resolve("volume-0")));
    }

    @Test
    void aLinkIntoAnotherVolumeOfThePointIsPointedAtThatVolumesCopy() throws IOException {
        Files.createSymbolicLink(data.resolve("pg_wal"), Path.of("/srv/wal/pg_wal"));
        Files.createDirectories(data.resolve("pg_tblspc"));
        Files.createSymbolicLink(data.resolve("pg_tblspc/16384"), Path.of("/srv/db/tablespace"));
        Files.createDirectories(tmp.resolve("volume-0/tablespace"));
        assertEquals(List.of(), confine());
        assertEquals(wal, Files.readSymbolicLink(data.resolve("pg_wal")));
        assertEquals(tmp.resolve("volume-0/tablespace"), Files.readSymbolicLink(data.resolve("pg_tblspc/16384")));
    }

    @Test
    void aRelativeLinkWithinTheCopyIsLeftAsItIs() throws IOException {
        Files.createSymbolicLink(data.resolve("pg_wal"), Path.of("../../../volume-1/pg_wal"));
        assertEquals(List.of(), confine());
        assertEquals(Path.of("../../../volume-1/pg_wal"), Files.readSymbolicLink(data.resolve("pg_wal")));
    }

    @Test
    void aLinkOutOfTheBackupsVolumesStopsTheDatabase() throws IOException {
        Files.createSymbolicLink(data.resolve("pg_wal"), outside);
        Files.createDirectories(data.resolve("pg_tblspc"));
        Files.createSymbolicLink(data.resolve("pg_tblspc/16384"), Path.of("../../../../live-server-files"));
        List<String> problems = confine();
        assertEquals(2, problems.size(), problems.toString());
        assertTrue(problems.getFirst().contains("leads out of the backup's volumes"), problems.toString());
        assertEquals(outside, Files.readSymbolicLink(data.resolve("pg_wal")), "left alone: the server is not started");
    }

    @Test
    void aLinkIntoAVolumeOfThePointThatLinksOnOutOfItStopsTheDatabase() throws IOException {
        Files.delete(wal);
        Files.createSymbolicLink(wal, outside);
        Files.createSymbolicLink(data.resolve("pg_wal"), Path.of("/srv/wal/pg_wal"));
        assertEquals(1, confine().size());
    }
}
