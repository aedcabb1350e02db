package dev.shadowcopy.provider.cow;

import dev.shadowcopy.platform.LocalStorage;
import dev.shadowcopy.provider.store.Journal;
import dev.shadowcopy.provider.store.JournalRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/** Debugging aid: prints a volume's checkpoint summary and every journal record. Args: volume dir. */
public final class JournalDump {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String desc = Files.readString(dir.resolve("volume.desc"));
        UUID id = UUID.fromString(desc.lines().filter(l -> l.startsWith("uuid=")).findFirst().orElseThrow().substring(5));
        long size = Long.parseLong(desc.lines().filter(l -> l.startsWith("size=")).findFirst().orElseThrow().substring(5));
        int chunk = Integer.parseInt(desc.lines().filter(l -> l.startsWith("chunkSize=")).findFirst().orElseThrow().substring(10));
        Path meta = dir.resolve("meta");
        var cp = CowCheckpoint.read(LocalStorage.INSTANCE, meta, id, (size + chunk - 1) / chunk);
        if (cp != null) {
            System.out.println("checkpoint: next=" + cp.header().nextGeneration() + " epoch=" + cp.header().epoch()
                    + " clean=" + cp.header().cleanClose() + " records=" + cp.index().size());
            cp.shadows().forEach(s -> System.out.println("  shadow " + s));
        }
        for (String name : LocalStorage.INSTANCE.list(meta)) {
            long g = Journal.generationOf(name);
            if (g < 0) {
                continue;
            }
            System.out.println("journal " + name);
            Journal<JournalRecord> j = Journal.replay(LocalStorage.INSTANCE, meta, id, g, CowRecord.CODEC,
                    r -> System.out.println("  " + r), new Journal.ReplayStats());
            j.close();
        }
    }
}
